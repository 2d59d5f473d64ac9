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

Baseline in the same run: the same clips at CRF 20, as the corpus codes them (``--crf`` adds other
constant qualities; ``--offset`` starts further down the list of pictures, for pictures a rule was
not chosen on).

    .venv/bin/python bench/vqd/frozen_cbr.py [--pictures 60] [--offset 0] [--crf 20] [--bpp 0.05,0.1,0.2] [--fast 0.1]
        [--light 0,0.02,0.05]
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

from lookout.health.patrol import SNAPSHOT_JPEG, Grab, grab_patrol_frames  # noqa: E402
from lookout.health.vqd import Diagnosis, diagnose, frozen_since  # noqa: E402
from lookout.health.vqd.load import Clip, read_video  # noqa: E402
from lookout.media.snapshot import encode_jpeg  # noqa: E402

FPS, N, GOP = 5, 16, 5


def code(path: Path, frames: list[np.ndarray], bpp: float | None, fast: bool = False, crf: int = 20) -> Path:
    """Code ``frames`` to ``path`` (at constant quality ``crf`` when ``bpp`` is None, else CBR; ``fast``
    as the camera simulator codes)."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=FPS)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        if bpp is None:
            st.options = {"crf": str(crf), "preset": "veryfast", "g": str(GOP)}
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


def as_patrol(path: Path) -> Grab:
    """The frames a patrol reads, by its own reader: the first two, then two key frames."""
    return grab_patrol_frames(str(path), keyframes=2)


def diagnosed(clip: Grab | Clip, key_frames: bool) -> Diagnosis:
    """The diagnosis of a clip without a reference, told which frames are key frames or not."""
    return diagnose(clip.frames, key_frames=clip.key_frames if key_frames else ())


def noisy(pic: np.ndarray, rng: np.random.Generator, gain: float = 1.0) -> list[np.ndarray]:
    base = pic.astype(np.float32) * gain
    return [np.clip(base + rng.normal(0, 2.0, pic.shape), 0, 255).astype(np.uint8) for _ in range(N)]


def snapshot(frame: np.ndarray) -> np.ndarray:
    """The picture a patrol keeps with a fault, read back (as the patrol encodes it)."""
    return cv2.imdecode(np.frombuffer(encode_jpeg(frame, **SNAPSHOT_JPEG), np.uint8), cv2.IMREAD_COLOR)


def two_patrols(a: Grab, b: Grab, key_frames: bool) -> bool:
    """Both patrols (the frames each read) find the picture frozen and the second confirms it
    against the first's snapshot."""
    d1, d2 = diagnosed(a, key_frames), diagnosed(b, key_frames)
    if "frozen" not in d1.faults or "frozen" not in d2.faults:
        return False
    return "frozen" in frozen_since(d2, snapshot(a.frames[-1]), b.frames[-1]).faults


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pictures", type=int, default=60)
    ap.add_argument("--offset", type=int, default=0, help="skip this many reference pictures first")
    ap.add_argument("--crf", default="20", help="constant-quality codings (x264 CRF; 20 as the corpus)")
    ap.add_argument("--bpp", default="0.05,0.1,0.2")
    ap.add_argument("--fast", default="0.1", help="bit rates coded as the camera simulator codes ('' for none)")
    ap.add_argument("--light", default="0,0.02,0.05", help="light changes of the still scene between patrols")
    args = ap.parse_args()
    refs = sorted((REPO / "bench" / "out" / "vqd-corpus" / "refs").glob("*.jpg"))[args.offset:][: args.pictures]
    if not refs:
        raise SystemExit("no corpus: run bench/vqd/build_corpus.py first")
    # (bit rate or None for constant quality, coded as the camera simulator codes, CRF)
    rates: list[tuple[float | None, bool, int]] = [(None, False, int(x)) for x in args.crf.split(",") if x]
    rates += [(float(x), False, 0) for x in args.bpp.split(",") if x]
    rates += [(float(x), True, 0) for x in args.fast.split(",") if x]
    lights = [float(x) for x in args.light.split(",")]
    cols = ["clip frozen", "clip still", "patrol frozen", "patrol still", "2 patrols frozen",
            *[f"2 patrols still, light {x:+.0%}" for x in lights]]
    modes = (True, False)  # key frames known (as the product reads), frames only (as before they were)
    found = {(r, mode): dict.fromkeys(cols, 0) for r in rates for mode in modes}
    rng = np.random.default_rng(5)
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        for ref in refs:
            pic = cv2.imread(str(ref))
            pic = pic[: pic.shape[0] // 2 * 2, : pic.shape[1] // 2 * 2]
            live = noisy(pic, rng)
            later = {x: noisy(pic, rng, 1.0 + x) for x in lights}
            for r, fast, crf in rates:
                frozen_clip = read_video(code(tmpdir / "frozen.mp4", [pic] * N, r, fast, crf))
                still_clip = read_video(code(tmpdir / "still.mp4", live, r, fast, crf))
                frozen_1 = as_patrol(code(tmpdir / "frozen.mp4", [pic] * N, r, fast, crf))
                still_1 = as_patrol(code(tmpdir / "still.mp4", live, r, fast, crf))
                frozen_2 = as_patrol(code(tmpdir / "later.mp4", [pic] * N, None if r is None else r * 1.1, fast, crf))
                still_2 = {x: as_patrol(code(tmpdir / "later.mp4", later[x], r, fast, crf)) for x in lights}
                for mode in modes:
                    f = found[(r, fast, crf), mode]
                    f["clip frozen"] += "frozen" in diagnosed(frozen_clip, mode).faults
                    f["clip still"] += "frozen" in diagnosed(still_clip, mode).faults
                    f["patrol frozen"] += "frozen" in diagnosed(frozen_1, mode).faults
                    f["patrol still"] += "frozen" in diagnosed(still_1, mode).faults
                    f["2 patrols frozen"] += two_patrols(frozen_1, frozen_2, mode)
                    for x in lights:
                        f[f"2 patrols still, light {x:+.0%}"] += two_patrols(still_1, still_2[x], mode)
    n = len(refs)
    print(f"{n} pictures; share found frozen (for frozen pictures: recall; for live still scenes: false alarms)")
    for mode in modes:
        print("\nkey frames known (as the product reads)" if mode else "\nframes only, key frames not known (baseline)")
        print(f"{'coding':<34}" + "".join(f"{c:>{max(len(c), 6) + 2}}" for c in cols))
        for r, fast, crf in rates:
            name = (f"CRF {crf}" + (" (the corpus)" if crf == 20 else "") if r is None
                    else f"CBR {r:g} bit/pixel" + (", as the simulator" if fast else ""))
            print(f"{name:<34}" + "".join(f"{found[(r, fast, crf), mode][c] / n:>{max(len(c), 6) + 2}.3f}" for c in cols))


if __name__ == "__main__":
    main()
