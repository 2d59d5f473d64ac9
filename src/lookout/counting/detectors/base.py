"""The detector interface: a BGR frame in, person boxes with scores out.

Every detector plug-in (SSD via OpenCV DNN, YOLO via ONNX Runtime, …) implements
``Detector.detect(frame, roi=None) -> PersonBoxes``. Boxes are pixel ``x1, y1, x2, y2``
in the frame given; ``roi`` (x1, y1, x2, y2) restricts detection to a part of the frame
(motion gating) and boxes are still returned in full-frame coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


class DetectorError(RuntimeError):
    """A detector could not be built or run (missing/corrupt model, wrong input)."""


@dataclass(frozen=True)
class PersonBoxes:
    xyxy: np.ndarray  # (N, 4) float32, pixels
    scores: np.ndarray  # (N,) float32 in 0..1

    def __post_init__(self) -> None:
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4 or len(self.scores) != len(self.xyxy):
            raise ValueError(f"boxes must be (N, 4) with N scores, got {self.xyxy.shape} and {self.scores.shape}")

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> PersonBoxes:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    def above(self, score: float) -> PersonBoxes:
        keep = self.scores >= score
        return PersonBoxes(self.xyxy[keep], self.scores[keep])

    def shifted(self, dx: float, dy: float) -> PersonBoxes:
        return PersonBoxes(self.xyxy + np.array([dx, dy, dx, dy], np.float32), self.scores)

    @staticmethod
    def concat(parts: list[PersonBoxes]) -> PersonBoxes:
        parts = [p for p in parts if len(p)]
        if not parts:
            return PersonBoxes.empty()
        return PersonBoxes(np.concatenate([p.xyxy for p in parts]).astype(np.float32),
                           np.concatenate([p.scores for p in parts]).astype(np.float32))

    def anchors(self) -> np.ndarray:
        """Bottom-centre of each box (the foot point used for lines and zones)."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, self.xyxy[:, 3]], axis=1)


@runtime_checkable
class Detector(Protocol):
    name: str

    def detect(self, frame: np.ndarray, roi: tuple[int, int, int, int] | None = None) -> PersonBoxes: ...


def check_frame(frame: object) -> np.ndarray:
    """A clear error for anything that is not an H×W×3 uint8 image."""
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise DetectorError(f"expected a BGR uint8 frame of shape (H, W, 3), got shape {shape} dtype {dtype}")
    if frame.shape[0] < 8 or frame.shape[1] < 8:
        raise DetectorError(f"frame too small: {frame.shape[1]}x{frame.shape[0]}")
    return frame


def nms(boxes: PersonBoxes, iou: float = 0.5) -> PersonBoxes:
    """Non-maximum suppression (OpenCV's), for merging tiles and scales."""
    if len(boxes) == 0:
        return boxes
    import cv2

    xywh = boxes.xyxy.copy()
    xywh[:, 2:] -= xywh[:, :2]
    idx = cv2.dnn.NMSBoxes(xywh.tolist(), boxes.scores.tolist(), 0.0, iou)
    idx = np.asarray(idx, dtype=int).reshape(-1)
    return PersonBoxes(boxes.xyxy[idx], boxes.scores[idx])


def drop_flat(boxes: PersonBoxes, frame: np.ndarray, min_std: float = 3.0) -> PersonBoxes:
    """Drop boxes over a featureless region (grey level spread below ``min_std``): a person is
    never a flat patch, but a network run off its native input size can report one at an
    image corner of a blank picture."""
    if len(boxes) == 0:
        return boxes
    import cv2

    h, w = frame.shape[:2]
    f = 4 if min(h, w) >= 64 else 1
    grey = cv2.cvtColor(frame[::f, ::f], cv2.COLOR_BGR2GRAY)
    keep = []
    for x1, y1, x2, y2 in (boxes.xyxy / f).astype(int):
        patch = grey[max(0, y1):max(y1 + 1, y2), max(0, x1):max(x1 + 1, x2)]
        keep.append(patch.size > 0 and float(patch.std()) >= min_std)
    k = np.array(keep, bool)
    return PersonBoxes(boxes.xyxy[k], boxes.scores[k])
