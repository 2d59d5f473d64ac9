"""Coding loss is not defocus: views coded at the bit rates cameras use, against their reference.

The evaluation corpus codes its clips at constant quality (x264 CRF 20). Cameras code at a
constant bit rate, and a sub-stream or a busy uplink leaves little per pixel: 0.05 bit per pixel
and frame is a D1 sub-stream (704 × 576, 25 frames/s) at 512 kbit/s, or 1080p at 25 frames/s at
2.6 Mbit/s; 0.03 is 1080p at 1.5 Mbit/s. Such a picture has lost its finest texture to the coder,
not to the lens, and an O&M engineer sent to refocus it would find nothing to do.

For each reference picture of the corpus (``bench/out/vqd-corpus/refs``, the views marked
correct), a live still clip (fresh sensor noise, σ 2, each frame) is coded at CRF 20 (the
baseline, as the corpus codes) and at each constant bit rate (x264 "veryfast", a key frame every
5 frames), clean and defocused (the corpus' mild and medium lens defocus), in colour and as an
infrared night picture (grey-scale), and diagnosed, as the frames a patrol reads (its own reader:
the first two, then two key frames), against two references:

- *the picture*: the reference picture itself, uncoded (the hard case: a reference marked on the
  main stream while patrols read the sub-stream, or a bit rate lowered since it was marked);
- *its stream's*: what the product keeps when an operator marks the view (the first frame of the
  camera's stream, here of another clip of the clean view, in daylight, coded at the same rate);
- *day and night*: that, and the view marked a second time at night (a second reference picture
  of the channel, under a name of its own): the patrol judges each picture against the one it
  matches best (``diagnose_views``).

Printed: the share of views found blurred (clean: false alarms; defocused: recall).

    .venv/bin/python bench/vqd/coding_loss.py [--pictures 100] [--bpp 0.1,0.05,0.03]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(HERE))

from frozen_cbr import as_patrol, code, noisy  # noqa: E402
from inject import defocus, night_grey  # noqa: E402

from lookout.health.vqd import diagnose, diagnose_views  # noqa: E402

STATES = ("clean", "mild", "medium")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pictures", type=int, default=100, help="every other reference picture, this many")
    ap.add_argument("--bpp", default="0.1,0.05,0.03")
    args = ap.parse_args()
    refs = sorted((REPO / "bench" / "out" / "vqd-corpus" / "refs").glob("*.jpg"))[::2][: args.pictures]
    if not refs:
        raise SystemExit("no corpus: run bench/vqd/build_corpus.py first")
    rates: list[float | None] = [None] + [float(x) for x in args.bpp.split(",") if x]
    refs_kinds = ("the picture", "its stream's", "day and night")
    found = {(kind, light, state, r): 0 for kind in refs_kinds for light in ("day", "night") for state in STATES
             for r in rates}
    rng = np.random.default_rng(11)
    with tempfile.TemporaryDirectory() as tmp:
        clip_path = Path(tmp) / "clip.mp4"
        for ref in refs:
            pic = cv2.imread(str(ref))
            pic = pic[: pic.shape[0] // 2 * 2, : pic.shape[1] // 2 * 2]
            live = noisy(pic, rng)
            night = [night_grey(f, rng) for f in live]
            marked = {r: as_patrol(code(clip_path, noisy(pic, rng), r)).frames[0] for r in rates}  # another moment
            marked_night = {r: as_patrol(code(clip_path, [night_grey(f, rng) for f in noisy(pic, rng)], r)).frames[0]
                            for r in rates}
            for light, frames in (("day", live), ("night", night)):
                for state in STATES:
                    shown = frames if state == "clean" else [defocus(f, state) for f in frames]
                    for r in rates:
                        patrol = as_patrol(code(clip_path, shown, r)).frames
                        for kind, ref_picture in zip(refs_kinds[:2], (pic, marked[r])):
                            found[kind, light, state, r] += "blur" in diagnose(patrol, ref_picture).faults
                        both = diagnose_views(patrol, [marked[r], marked_night[r]])
                        found["day and night", light, state, r] += "blur" in both.faults
    n = len(refs)
    cols = [f"{light} {state}" for light in ("day", "night") for state in STATES]
    for kind in refs_kinds:
        print(f"{n} pictures, against {kind} reference; share found blurred (clean: false alarms; defocus: recall)")
        print(f"{'coding':<24}" + "".join(f"{c:>14}" for c in cols))
        for r in rates:
            name = "CRF 20 (the corpus)" if r is None else f"CBR {r:g} bit/pixel"
            row = [found[kind, light, state, r] / n for light in ("day", "night") for state in STATES]
            print(f"{name:<24}" + "".join(f"{v:>14.3f}" for v in row))


if __name__ == "__main__":
    main()
