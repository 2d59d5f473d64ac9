"""Frozen pictures coded at a constant bit rate, as many cameras code them.

The evaluation corpus codes its clips at constant quality (x264 CRF 20), where a frozen picture
comes out as identical frames. A camera at a constant bit rate (CBR) spends its bits on a still
picture too: each P-frame refines it and every key frame starts coarse again, so a frozen
picture's frames differ by coding alone. This measures what that does to the diagnosis: for each
reference picture of the corpus (``bench/out/vqd-corpus/refs``, the views marked correct), a
frozen clip (the same picture 16 times) and a live still clip (fresh sensor noise, σ 2, each
frame) are coded at several bit rates (bits per pixel and frame; 0.1 is 2 Mbit/s for 1080p at 10
frames/s) with a key frame every 5 frames, read back as the CLI reads a video and diagnosed
without a reference. Baseline in the same run: the same clips at CRF 20, as the corpus codes them.

    .venv/bin/python bench/vqd/frozen_cbr.py [--pictures 60] [--bpp 0.05,0.1,0.2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

from lookout.health.vqd import diagnose  # noqa: E402
from lookout.health.vqd.load import read_video  # noqa: E402

FPS, N, GOP = 5, 16, 5


def code(path: Path, frames: list[np.ndarray], bpp: float | None) -> Path:
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=FPS)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        if bpp is None:
            st.options = {"crf": "20", "preset": "veryfast", "g": str(GOP)}
        else:
            kbps = max(20, int(w * h * FPS * bpp / 1000))
            st.options = {"preset": "veryfast", "g": str(GOP), "b": f"{kbps}k", "minrate": f"{kbps}k",
                          "maxrate": f"{kbps}k", "bufsize": f"{kbps}k", "x264-params": "nal-hrd=cbr"}
        for f in frames:
            for pkt in st.encode(av.VideoFrame.from_ndarray(f, format="bgr24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pictures", type=int, default=60)
    ap.add_argument("--bpp", default="0.05,0.1,0.2")
    args = ap.parse_args()
    refs = sorted((REPO / "bench" / "out" / "vqd-corpus" / "refs").glob("*.jpg"))[: args.pictures]
    if not refs:
        raise SystemExit("no corpus: run bench/vqd/build_corpus.py first")
    rates: list[float | None] = [None] + [float(x) for x in args.bpp.split(",")]
    found = {r: [0, 0] for r in rates}  # frozen clips found frozen, live still clips found frozen
    rng = np.random.default_rng(5)
    with tempfile.TemporaryDirectory() as tmp:
        for i, ref in enumerate(refs):
            pic = cv2.imread(str(ref))
            pic = pic[: pic.shape[0] // 2 * 2, : pic.shape[1] // 2 * 2]
            live = [np.clip(pic.astype(np.float32) + rng.normal(0, 2.0, pic.shape), 0, 255).astype(np.uint8)
                    for _ in range(N)]
            for r in rates:
                for k, frames in enumerate(([pic] * N, live)):
                    d = diagnose(read_video(code(Path(tmp) / f"{i}-{k}.mp4", frames, r)))
                    found[r][k] += "frozen" in d.faults
    n = len(refs)
    print(f"{n} pictures; frozen clips found frozen (recall) and live still clips read as frozen (false alarms)")
    print(f"{'coding':<22}{'frozen recall':>15}{'still read frozen':>20}")
    for r in rates:
        name = "CRF 20 (the corpus)" if r is None else f"CBR {r:g} bit/pixel"
        print(f"{name:<22}{found[r][0] / n:>15.3f}{found[r][1] / n:>20.3f}")


if __name__ == "__main__":
    main()
