"""Frozen pictures coded at a constant bit rate, as many cameras code them, within a clip and over patrols.

The evaluation corpus codes its clips at constant quality (x264 CRF 20), where a frozen picture
comes out as identical frames. A camera at a constant bit rate (CBR) spends its bits on a still
picture too: each P-frame refines it and every key frame starts coarse again, so a frozen
picture's frames differ by coding alone, and the encoder codes a live scene's sensor noise away.

For each reference picture of the corpus (``bench/out/vqd-corpus/refs``, the views marked
correct), a frozen clip (the same picture 16 times) and a live still clip (fresh sensor noise, σ 2,
each frame) are coded at several bit rates (bits per pixel and frame; 0.1 is 2 Mbit/s for 1080p at
10 frames/s) with a key frame every 5 frames (x264 "veryfast"; and, with ``--fast``, the camera
simulator's own coding: "ultrafast", zero latency, baseline profile, no deblocking), and diagnosed
without a reference:

- *clip*: the whole clip, as ``lookout vqd diagnose FILE`` reads a video;
- *patrol*: the frames a patrol reads, by its own reader (the first two, then two key frames);
- *two patrols*: what opens a work order — a second patrol half an hour later finds the picture
  frozen again and it is the picture the first one kept (its JPEG snapshot; ``frozen_since``). The
  frozen camera's second clip is the same picture coded again at a 10 % different rate (the
  encoder's state differs); the live still scene's is the picture with its light changed by
  ``--light`` (a brightness gain; 0 is an indoor scene under constant light) and fresh noise.

Baseline in the same run: the same clips at CRF 20, as the corpus codes them.

    .venv/bin/python bench/vqd/frozen_cbr.py [--pictures 60] [--bpp 0.05,0.1,0.2] [--fast 0.1] [--light 0,0.02,0.05]
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

from lookout.health.patrol import SNAPSHOT_JPEG, grab_patrol_frames  # noqa: E402
from lookout.health.vqd import diagnose, frozen_since  # noqa: E402
from lookout.health.vqd.load import read_video  # noqa: E402
from lookout.media.snapshot import encode_jpeg  # noqa: E402

FPS, N, GOP = 5, 16, 5


def code(path: Path, frames: list[np.ndarray], bpp: float | None, fast: bool = False) -> Path:
    """Code ``frames`` to ``path`` (CRF 20 when ``bpp`` is None, else CBR; ``fast`` as the camera
    simulator codes)."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=FPS)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        if bpp is None:
            st.options = {"crf": "20", "preset": "veryfast", "g": str(GOP)}
        else:
            kbps = max(20, int(w * h * FPS * bpp / 1000))
            st.options = {"preset": "ultrafast" if fast else "veryfast", "g": str(GOP), "b": f"{kbps}k",
                          "minrate": f"{kbps}k", "maxrate": f"{kbps}k", "bufsize": f"{kbps}k", "x264-params": "nal-hrd=cbr"}
            if fast:
                st.options |= {"tune": "zerolatency", "profile": "baseline"}
        for f in frames:
            for pkt in st.encode(av.VideoFrame.from_ndarray(f, format="bgr24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path


def as_patrol(path: Path) -> list[np.ndarray]:
    """The frames a patrol reads, by its own reader: the first two, then two key frames."""
    return grab_patrol_frames(str(path), keyframes=2).frames


def noisy(pic: np.ndarray, rng: np.random.Generator, gain: float = 1.0) -> list[np.ndarray]:
    base = pic.astype(np.float32) * gain
    return [np.clip(base + rng.normal(0, 2.0, pic.shape), 0, 255).astype(np.uint8) for _ in range(N)]


def snapshot(frame: np.ndarray) -> np.ndarray:
    """The picture a patrol keeps with a fault, read back (as the patrol encodes it)."""
    return cv2.imdecode(np.frombuffer(encode_jpeg(frame, **SNAPSHOT_JPEG), np.uint8), cv2.IMREAD_COLOR)


def two_patrols(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    """Both patrols (the frames each read) find the picture frozen and the second confirms it
    against the first's snapshot."""
    d1, d2 = diagnose(a), diagnose(b)
    if "frozen" not in d1.faults or "frozen" not in d2.faults:
        return False
    return "frozen" in frozen_since(d2, snapshot(a[-1]), b[-1]).faults


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pictures", type=int, default=60)
    ap.add_argument("--bpp", default="0.05,0.1,0.2")
    ap.add_argument("--fast", default="0.1", help="bit rates coded as the camera simulator codes ('' for none)")
    ap.add_argument("--light", default="0,0.02,0.05", help="light changes of the still scene between patrols")
    args = ap.parse_args()
    refs = sorted((REPO / "bench" / "out" / "vqd-corpus" / "refs").glob("*.jpg"))[: args.pictures]
    if not refs:
        raise SystemExit("no corpus: run bench/vqd/build_corpus.py first")
    # (bit rate or None for CRF 20, coded as the camera simulator codes)
    rates: list[tuple[float | None, bool]] = [(None, False)] + [(float(x), False) for x in args.bpp.split(",") if x]
    rates += [(float(x), True) for x in args.fast.split(",") if x]
    lights = [float(x) for x in args.light.split(",")]
    cols = ["clip frozen", "clip still", "patrol frozen", "patrol still", "2 patrols frozen",
            *[f"2 patrols still, light {x:+.0%}" for x in lights]]
    found = {r: dict.fromkeys(cols, 0) for r in rates}  # keyed by (bit rate, fast)
    rng = np.random.default_rng(5)
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        for ref in refs:
            pic = cv2.imread(str(ref))
            pic = pic[: pic.shape[0] // 2 * 2, : pic.shape[1] // 2 * 2]
            live = noisy(pic, rng)
            later = {x: noisy(pic, rng, 1.0 + x) for x in lights}
            for r, fast in rates:
                f = found[r, fast]
                frozen_clip = code(tmpdir / "frozen.mp4", [pic] * N, r, fast)
                still_clip = code(tmpdir / "still.mp4", live, r, fast)
                f["clip frozen"] += "frozen" in diagnose(read_video(frozen_clip)).faults
                f["clip still"] += "frozen" in diagnose(read_video(still_clip)).faults
                frozen_1, still_1 = as_patrol(frozen_clip), as_patrol(still_clip)
                f["patrol frozen"] += "frozen" in diagnose(frozen_1).faults
                f["patrol still"] += "frozen" in diagnose(still_1).faults
                frozen_2 = as_patrol(code(tmpdir / "later.mp4", [pic] * N, None if r is None else r * 1.1, fast))
                f["2 patrols frozen"] += two_patrols(frozen_1, frozen_2)
                for x in lights:
                    still_2 = as_patrol(code(tmpdir / "later.mp4", later[x], r, fast))
                    f[f"2 patrols still, light {x:+.0%}"] += two_patrols(still_1, still_2)
    n = len(refs)
    print(f"{n} pictures; share found frozen (for frozen pictures: recall; for live still scenes: false alarms)")
    print(f"{'coding':<34}" + "".join(f"{c:>{max(len(c), 6) + 2}}" for c in cols))
    for r, fast in rates:
        name = "CRF 20 (the corpus)" if r is None else f"CBR {r:g} bit/pixel" + (", as the simulator" if fast else "")
        print(f"{name:<34}" + "".join(f"{found[r, fast][c] / n:>{max(len(c), 6) + 2}.3f}" for c in cols))


if __name__ == "__main__":
    main()
