"""Accuracy of visitor counting on PETS 2009 S2.L1 against its MOT15 annotation.

One command: ``.venv/bin/python bench/count_eval.py [--data DIR] [--every N]``.

Figures (each profile runs the whole pipeline over the video):
- people per frame: mean absolute error over all 795 frames, against the annotation's rows
  of each frame counted two ways (all rows / flag = 1 rows only);
- line crossings in and out on four lines against crossings computed from the annotated
  tracks (each id's box bottom-centre followed frame to frame, sign changes of s counted);
- tracking quality: MOTA and IDF1 (motmetrics; IoU ≥ 0.5; ground truth = flag 1 rows);
- baseline measured in the same run: the raw detector count per frame (whole frame,
  score ≥ 0.2, no tracking);
- ``frcnn``: the same tracker and lines fed with the published Faster R-CNN detections
  (score ≥ 0.1, like our detector's), to tell detector errors from tracker errors.
Profiles (``lookout.counting.pipeline.PROFILES``): accurate (whole frame at 512×384), fast
(300×300), tiles (2×2 tiles at 300×300).
The annotation is used for evaluation only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from lookout.counting.detectors.base import PersonBoxes  # noqa: E402
from lookout.counting.detectors import create_detector  # noqa: E402
from lookout.counting.detectors.ssd import SsdLiteDetector  # noqa: E402
from lookout.counting.lines import Line  # noqa: E402
from lookout.counting.pipeline import CountingPipeline  # noqa: E402
from lookout.counting.pipeline import profile as make_profile  # noqa: E402
from lookout.counting.video import read_frames, video_fps  # noqa: E402

# Lines across the walking paths, plus two hard cases: x=400 runs along the lamp post
# (people vanish behind it while crossing) and y=250 runs along the road (people walk along
# it, so the annotation's sign changes include wiggles across it).
LINES = [
    Line(300, 0, 300, 576, name="x=300"),
    Line(550, 0, 550, 576, name="x=550"),
    Line(0, 576, 768, 0, name="diagonal"),
    Line(400, 0, 400, 576, name="x=400 (lamp post)"),
    Line(0, 250, 768, 250, name="y=250 (along road)"),
]


class ReplayDetector:
    """Published detections of a frame, as if a detector had produced them."""

    name = "replay"

    def __init__(self, rows: np.ndarray, score: float) -> None:
        self.by_frame: dict[int, PersonBoxes] = {}
        for f in np.unique(rows[:, 0]).astype(int):
            r = rows[(rows[:, 0] == f) & (rows[:, 6] >= score)]
            xyxy = np.stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]], 1).astype(np.float32)
            self.by_frame[f - 1] = PersonBoxes(xyxy, r[:, 6].astype(np.float32))
        self.frame = 0

    def detect(self, frame, roi=None) -> PersonBoxes:
        return self.by_frame.get(self.frame, PersonBoxes.empty())


def gt_crossings(gt: np.ndarray, line: Line) -> tuple[int, int]:
    n_in = n_out = 0
    for tid in np.unique(gt[:, 1]):
        r = gt[gt[:, 1] == tid]
        r = r[np.argsort(r[:, 0])]
        s = [line.s(x + w / 2, y + h) for x, y, w, h in r[:, 2:6]]
        for a, b in zip(s, s[1:]):
            if a < 0 < b:
                n_in += 1
            elif a > 0 > b:
                n_out += 1
    return n_in, n_out


def iou_distance(gt_xywh: np.ndarray, hyp_xywh: np.ndarray, max_d: float = 0.5) -> np.ndarray:
    if len(gt_xywh) == 0 or len(hyp_xywh) == 0:
        return np.empty((len(gt_xywh), len(hyp_xywh)))
    g = gt_xywh[:, None, :]
    h = hyp_xywh[None, :, :]
    ix = np.clip(np.minimum(g[..., 0] + g[..., 2], h[..., 0] + h[..., 2]) - np.maximum(g[..., 0], h[..., 0]), 0, None)
    iy = np.clip(np.minimum(g[..., 1] + g[..., 3], h[..., 1] + h[..., 3]) - np.maximum(g[..., 1], h[..., 1]), 0, None)
    inter = ix * iy
    union = g[..., 2] * g[..., 3] + h[..., 2] * h[..., 3] - inter
    d = 1 - inter / np.maximum(union, 1e-9)
    d[d > max_d] = np.nan
    return d


def run(profile: str, video: Path, every: int, frcnn: np.ndarray | None) -> dict:
    rate = video_fps(video) / every
    baseline = None
    if profile == "frcnn":
        det = ReplayDetector(frcnn, score=0.1)
        _, cfg = make_profile("fast", rate)
        cfg.motion_gating = False
    else:
        spec, cfg = make_profile(profile, rate)
        det = create_detector(spec)
        baseline = SsdLiteDetector(score_threshold=0.2)
    pipe = CountingPipeline(det, cfg, lines=LINES)
    counts, raw, tracks = {}, {}, {}
    t0 = time.perf_counter()
    for index, ts, frame in read_frames(video, every):
        if isinstance(det, ReplayDetector):
            det.frame = index
        res = pipe.process(frame, ts, index)
        counts[index] = res.count
        tracks[index] = res.tracks
        if baseline is not None:
            raw[index] = len(baseline.detect(frame))
    elapsed = time.perf_counter() - t0
    return {"counts": counts, "raw": raw, "tracks": tracks, "lines": pipe.line_totals(), "seconds": elapsed,
            "detector_calls": pipe.detector_calls, "frames": len(counts)}


def mot_metrics(gt: np.ndarray, tracks: dict, visible_only: bool = False) -> dict:
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=True)
    g1 = gt[gt[:, 6] == 1]
    by_frame = defaultdict(list)
    for r in g1:
        by_frame[int(r[0]) - 1].append(r)
    for index in sorted(tracks):
        g = np.array(by_frame.get(index, []))
        gids = g[:, 1].astype(int).tolist() if len(g) else []
        gbox = g[:, 2:6] if len(g) else np.zeros((0, 4))
        ts = [t for t in tracks[index] if t.visible or not visible_only]
        hids = [t.track_id for t in ts]
        hbox = np.array([[t.xyxy[0], t.xyxy[1], t.xyxy[2] - t.xyxy[0], t.xyxy[3] - t.xyxy[1]] for t in ts]).reshape(-1, 4)
        acc.update(gids, hids, iou_distance(gbox, hbox))
    mh = mm.metrics.create()
    s = mh.compute(acc, metrics=["mota", "idf1", "num_switches", "precision", "recall"], name="x")
    return {k: float(s[k].iloc[0]) for k in s.columns}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_data = Path(os.environ.get("LOOKOUT_SHARED_DATA", REPO.parent / "shared" / "data"))
    ap.add_argument("--data", type=Path, default=default_data)
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--profiles", default="accurate,fast,frcnn")
    args = ap.parse_args()
    video = args.data / "pets09-s2l1.avi"
    gt = np.loadtxt(args.data / "pets09-s2l1-gt.txt", delimiter=",")
    frcnn_path = args.data / "pets09-s2l1-det-frcnn.txt"
    frcnn = np.loadtxt(frcnn_path, delimiter=",") if frcnn_path.exists() else None
    n_frames = int(gt[:, 0].max())
    gt_all = np.bincount(gt[:, 0].astype(int) - 1, minlength=n_frames)
    gt_f1 = np.bincount(gt[gt[:, 6] == 1, 0].astype(int) - 1, minlength=n_frames)
    gtx = {line.name: gt_crossings(gt, line) for line in LINES}

    def mae(pred: dict, ref: np.ndarray) -> float:
        idx = np.array(sorted(pred))
        return float(np.abs(np.array([pred[i] for i in idx]) - ref[idx]).mean())

    print(f"PETS09-S2L1: {n_frames} frames, every {args.every}; GT people/frame mean {gt_all.mean():.2f} (all rows)")
    for profile in args.profiles.split(","):
        if profile == "frcnn" and frcnn is None:
            print("frcnn: detections file not found, skipped")
            continue
        r = run(profile, video, args.every, frcnn)
        print(f"\n== {profile}: {r['frames']} frames in {r['seconds']:.1f} s "
              f"({r['frames'] / r['seconds']:.1f} frames/s, {r['detector_calls']} detector calls)")
        print(f"MAE people/frame: all rows {mae(r['counts'], gt_all):.3f}, flag=1 rows {mae(r['counts'], gt_f1):.3f}; "
              f"bias {np.mean([r['counts'][i] - gt_all[i] for i in r['counts']]):+.3f}")
        if r["raw"]:
            print(f"baseline (raw detector, whole frame, score ≥ 0.2): all rows {mae(r['raw'], gt_all):.3f}, "
                  f"flag=1 rows {mae(r['raw'], gt_f1):.3f}")
        tot_err = tot_gt = 0
        for line in LINES:
            gi, go = gtx[line.name]
            pi, po = r["lines"][line.name]["in"], r["lines"][line.name]["out"]
            tot_err += abs(pi - gi) + abs(po - go)
            tot_gt += gi + go
            print(f"  {line.name:18s} in {pi:3d} (GT {gi:3d})  out {po:3d} (GT {go:3d})")
        print(f"  crossings: total |error| {tot_err} of {tot_gt} GT crossings = {100 * tot_err / max(tot_gt, 1):.1f} %")
        sys.stdout.flush()
        for label, vis in (("counted tracks (visible + coasting)", False), ("visible tracks only", True)):
            m = mot_metrics(gt, r["tracks"], vis)
            print(f"{label}: MOTA {m['mota']:.3f}  IDF1 {m['idf1']:.3f}  ID switches {int(m['num_switches'])}  "
                  f"precision {m['precision']:.3f}  recall {m['recall']:.3f}")


if __name__ == "__main__":
    main()
