"""Multi-person tracking: ByteTrack (the ``trackers`` package, which succeeded
supervision's built-in tracker) plus the bookkeeping counting needs.

A track is *confirmed* once ByteTrack has matched it in ``confirm_frames`` consecutive
analysed frames (it then has a positive id). A confirmed track that misses a few
detections (occlusion, a low score) is *coasting*: ByteTrack keeps predicting it and the
tracker still reports it — counted as present while it stays inside the frame, for at most
``coast_seconds`` — so that one missed detection does not make a person vanish from the count.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import supervision as sv

from lookout.counting.detectors.base import PersonBoxes

try:  # ByteTrack lives in `trackers` since supervision 0.27
    from trackers import ByteTrackTracker
except ImportError as exc:  # pragma: no cover - install problem
    raise ImportError("the `trackers` package is required (pip install --no-deps trackers)") from exc


@dataclass(frozen=True)
class Track:
    track_id: int
    xyxy: tuple[float, float, float, float]
    score: float
    visible: bool  # matched to a detection in this frame
    missed: int  # analysed frames since the last match (0 when visible)
    # on the frame a track is confirmed: the boxes it had while tentative, oldest first
    history: tuple[tuple[float, float, float, float], ...] = ()

    @property
    def anchor(self) -> tuple[float, float]:
        """Bottom-centre of the box: where the person stands."""
        x1, _, x2, y2 = self.xyxy
        return ((x1 + x2) / 2.0, y2)


class PersonTracker:
    def __init__(self, frame_rate: float = 10.0, confirm_frames: int = 3, lost_seconds: float = 3.0,
                 coast_seconds: float = 1.5, activation_score: float = 0.45, high_score: float = 0.45,
                 match_iou: float = 0.1, edge_margin: float = 0.02) -> None:
        self.frame_rate = frame_rate
        self.tracker = ByteTrackTracker(
            # the library counts this buffer in frames of a 30 fps video and rescales it
            lost_track_buffer=max(1, int(round(lost_seconds * 30))), frame_rate=frame_rate,
            track_activation_threshold=activation_score, minimum_consecutive_frames=confirm_frames,
            minimum_iou_threshold=match_iou, high_conf_det_threshold=high_score,
        )
        self.coast_frames = int(round(coast_seconds * frame_rate))
        self.edge_margin = edge_margin
        self.frame_size: tuple[int, int] | None = None
        self._tentative: dict[int, list[tuple[float, float, float, float]]] = {}

    def update(self, boxes: PersonBoxes, frame_size: tuple[int, int], timestamp: float | None = None) -> list[Track]:
        """Feed one analysed frame's detections; returns the confirmed tracks (visible or coasting)."""
        self.frame_size = frame_size
        dets = sv.Detections(xyxy=boxes.xyxy.astype(np.float32), confidence=boxes.scores.astype(np.float32))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self.tracker.update(dets, timestamp=timestamp)
        history = self._collect_history()
        tracks: list[Track] = []
        seen: set[int] = set()
        for xyxy, score, tid in zip(out.xyxy, out.confidence, out.tracker_id):
            if tid < 0 or tid in seen:
                continue
            seen.add(int(tid))
            tracks.append(Track(int(tid), tuple(float(v) for v in xyxy), float(score), True, 0,
                                tuple(history.get(int(tid), ()))))
        for t in self.tracker.tracks:
            tid = int(t.tracker_id)
            if tid < 0 or tid in seen or t.time_since_update == 0:
                continue
            if t.time_since_update > self.coast_frames:
                continue
            box = tuple(float(v) for v in t.get_state_bbox())
            if not self._inside(box):
                continue
            tracks.append(Track(tid, box, 0.0, False, int(t.time_since_update)))
        return tracks

    def _collect_history(self) -> dict[int, list[tuple[float, float, float, float]]]:
        """Remember tentative tracklets' boxes; hand them over when a tracklet is confirmed, so
        the side of a line a person came from is known even if confirmation took a while."""
        alive, handed = set(), {}
        for t in self.tracker.tracks:
            key = id(t)
            alive.add(key)
            if t.tracker_id < 0:
                if t.time_since_update == 0:
                    self._tentative.setdefault(key, []).append(tuple(float(v) for v in t.get_state_bbox()))
            elif key in self._tentative:
                handed[int(t.tracker_id)] = self._tentative.pop(key)
        for key in list(self._tentative):
            if key not in alive:
                del self._tentative[key]
        return handed

    def _inside(self, box: tuple[float, float, float, float]) -> bool:
        """A coasting box whose foot point has left the frame is someone who walked out."""
        if self.frame_size is None:
            return True
        w, h = self.frame_size
        cx, cy = (box[0] + box[2]) / 2, box[3]
        mx, my = w * self.edge_margin, h * self.edge_margin
        return mx <= cx <= w - mx and my <= cy <= h - my

    def reset(self) -> None:
        self.tracker.reset()
        self._tentative.clear()
