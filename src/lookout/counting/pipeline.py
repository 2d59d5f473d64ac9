"""The per-camera counting pipeline: motion gate → detector (whole frame or tiles) →
tracker → line crossings and zone counts. Pure processing of frames handed in; decoding
and scheduling live in ``lookout.runtime``.

Counting rule: the people present in a frame are the *confirmed* tracks, visible or briefly
coasting (see ``tracking``), not the raw detections — a flickering detection neither adds
nor removes a person. Tiles: the detector runs on overlapping windows (``tiles=(cols,
rows)``) so that small, distant people are seen at a larger scale; boxes are merged with NMS.
With motion gating, a window without motion re-uses its last boxes (refreshed at least every
``refresh_seconds``), so still people stay counted and empty scenes cost almost nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lookout.counting.detectors.base import Detector, PersonBoxes, check_frame, nms
from lookout.counting.lines import Crossing, Line, LineCounter
from lookout.counting.motion import MotionGate
from lookout.counting.tracking import PersonTracker, Track
from lookout.counting.zones import ImageZone, ZoneCount


@dataclass
class PipelineConfig:
    analysis_fps: float = 10.0  # rate at which frames are handed in (for the tracker's timing)
    tiles: tuple[int, int] | None = None  # (cols, rows) of overlapping windows; None: whole frame only
    full_frame: bool = False  # also run on the whole frame when tiling
    tile_overlap: float = 0.2
    nms_iou: float = 0.45
    activation_score: float = 0.5  # a detection this confident may start a track (ByteTrack's high threshold)
    confirm_seconds: float = 0.3  # matched this long before a track counts (3 frames at 10 fps)
    confirm_frames: int | None = None  # overrides confirm_seconds when set
    coast_seconds: float = 0.5
    lost_seconds: float = 3.0
    motion_gating: bool = True
    refresh_seconds: float = 2.0

    def confirm_count(self) -> int:
        """Consecutive matched frames that confirm a track at this analysis rate (at least 2,
        so one stray detection never counts)."""
        if self.confirm_frames is not None:
            return self.confirm_frames
        return max(2, math.floor(self.confirm_seconds * self.analysis_fps + 0.5))


# Counting profiles: the detector's input and the windows it runs on. Detections down to
# score 0.1 go to the tracker, which uses those below ``activation_score`` only to continue
# existing tracks (ByteTrack's two thresholds).
PROFILES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # the whole frame at 512×384 (aspect kept): small people seen 1.7× larger than at 300×300
    # (its scores run lower than at the native size, so tracks start from 0.4)
    "accurate": ({"kind": "ssdlite", "score": 0.1, "input": [512, 384]}, {"activation_score": 0.4}),
    # the whole frame at the model's native 300×300: about 2.5× cheaper, misses small people
    "fast": ({"kind": "ssdlite", "score": 0.1, "input": [300, 300]}, {}),
    # 2×2 overlapping tiles at 300×300 each: for very distant people, about 4× the cost of fast
    "tiles": ({"kind": "ssdlite", "score": 0.1, "input": [300, 300]}, {"tiles": (2, 2)}),
}


def profile(name: str, analysis_fps: float, detector: dict[str, Any] | None = None) -> tuple[dict[str, Any], PipelineConfig]:
    """Detector spec and pipeline settings of a named profile (``detector`` overrides the spec,
    e.g. a YOLO ONNX model)."""
    if name not in PROFILES:
        raise ValueError(f"unknown counting profile {name!r} (one of {', '.join(PROFILES)})")
    spec, cfg = PROFILES[name]
    det = dict(spec)
    if detector:
        det = dict(detector) if detector.get("kind", "ssdlite") != "ssdlite" else {**det, **detector}
    return det, PipelineConfig(analysis_fps=analysis_fps, **cfg)


@dataclass
class FrameResult:
    index: int
    ts: float
    count: int  # people present (confirmed tracks)
    tracks: list[Track]
    detections: int  # raw boxes this frame
    crossings: list[Crossing] = field(default_factory=list)
    zones: list[ZoneCount] = field(default_factory=list)
    windows_run: int = 0  # detector calls this frame (0 when motion gating re-used everything)


def tile_windows(width: int, height: int, cols: int, rows: int, overlap: float = 0.2) -> list[tuple[int, int, int, int]]:
    """Overlapping windows covering the frame, ``cols`` × ``rows``."""
    tw = width / (cols - (cols - 1) * overlap) if cols > 1 else width
    th = height / (rows - (rows - 1) * overlap) if rows > 1 else height
    out = []
    for r in range(rows):
        for c in range(cols):
            x1 = round(c * tw * (1 - overlap))
            y1 = round(r * th * (1 - overlap))
            out.append((x1, y1, min(width, round(x1 + tw)), min(height, round(y1 + th))))
    return out


class CountingPipeline:
    def __init__(self, detector: Detector, config: PipelineConfig | None = None, lines: list[Line] | None = None,
                 zones: list[ImageZone] | None = None) -> None:
        self.detector = detector
        self.config = cfg = config or PipelineConfig()
        self.tracker = PersonTracker(frame_rate=cfg.analysis_fps, confirm_frames=cfg.confirm_count(),
                                     lost_seconds=cfg.lost_seconds, coast_seconds=cfg.coast_seconds,
                                     activation_score=cfg.activation_score, high_score=cfg.activation_score)
        self.lines = [LineCounter(line.at_rate(cfg.analysis_fps)) for line in (lines or [])]
        self.zones = list(zones or [])
        self.motion = MotionGate() if cfg.motion_gating else None
        self._windows: list[tuple[int, int, int, int]] | None = None
        self._cache: dict[int, tuple[float, PersonBoxes]] = {}
        self._size: tuple[int, int] | None = None
        self.frames = 0
        self.detector_calls = 0

    def windows(self, width: int, height: int) -> list[tuple[int, int, int, int]]:
        if self._windows is None or self._size != (width, height):
            cfg = self.config
            wins = []
            if cfg.tiles is None or cfg.full_frame:
                wins.append((0, 0, width, height))
            if cfg.tiles is not None:
                wins += tile_windows(width, height, cfg.tiles[0], cfg.tiles[1], cfg.tile_overlap)
            self._windows, self._size, self._cache = wins, (width, height), {}
        return self._windows

    def detect(self, frame: np.ndarray, ts: float) -> tuple[PersonBoxes, int]:
        h, w = frame.shape[:2]
        wins = self.windows(w, h)
        if self.motion is not None:
            self.motion.update(frame)
        parts, run = [], 0
        for i, win in enumerate(wins):
            cached = self._cache.get(i)
            fresh = cached is not None and ts - cached[0] < self.config.refresh_seconds
            if fresh and self.motion is not None and not self.motion.moving(win):
                parts.append(cached[1])
                continue
            roi = None if win == (0, 0, w, h) else win
            boxes = self.detector.detect(frame, roi)
            self._cache[i] = (ts, boxes)
            parts.append(boxes)
            run += 1
        self.detector_calls += run
        merged = parts[0] if len(parts) == 1 else nms(PersonBoxes.concat(parts), self.config.nms_iou)
        return merged, run

    def process(self, frame: np.ndarray, ts: float, index: int | None = None) -> FrameResult:
        frame = check_frame(frame)
        h, w = frame.shape[:2]
        boxes, run = self.detect(frame, ts)
        tracks = self.tracker.update(boxes, (w, h), timestamp=ts)
        observed = []
        for t in tracks:
            if t.visible:
                observed += [(t.track_id, (b[0] + b[2]) / 2, b[3], b[3] - b[1]) for b in t.history]
                observed.append((t.track_id, *t.anchor, t.xyxy[3] - t.xyxy[1]))
        crossings: list[Crossing] = []
        for lc in self.lines:
            crossings += lc.update(observed, ts)
            crossings += lc.flush(ts)
            if self.frames % 100 == 0:
                lc.forget(ts - 60.0)
        anchors = [t.anchor for t in tracks]
        zones = [z.count(anchors) for z in self.zones]
        idx = self.frames if index is None else index
        self.frames += 1
        return FrameResult(idx, ts, len(tracks), tracks, len(boxes), crossings, zones, run)

    def line_totals(self) -> dict[str, dict[str, int]]:
        return {lc.line.name: {"in": lc.entered, "out": lc.exited} for lc in self.lines}
