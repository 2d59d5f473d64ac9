"""Image-to-ground calibration of one camera from 4 point pairs (pure logic).

``Channel.calibration`` holds ``{"image": [[u, v] × 4], "ground": [[x, y] × 4]}`` with
ground coordinates in metres on a flat ground plane. The homography maps a person's foot
point (box bottom-centre) or a zone polygon onto the ground, giving areas in m² and so
densities in people/m².
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np


class CalibrationError(ValueError):
    pass


def _points(value: Any, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CalibrationError(f"calibration {what}: expected 4 [x, y] pairs, got {value!r}") from exc
    if arr.shape != (4, 2) or not np.isfinite(arr).all():
        raise CalibrationError(f"calibration {what}: expected 4 [x, y] pairs, got shape {arr.shape}")
    return arr


def polygon_area(points: np.ndarray) -> float:
    """Shoelace area of a simple polygon."""
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


@dataclass(frozen=True)
class GroundCalibration:
    homography: np.ndarray  # 3×3, image pixels → ground metres

    @classmethod
    def from_points(cls, image: Sequence[Sequence[float]], ground: Sequence[Sequence[float]]) -> GroundCalibration:
        img, gnd = _points(image, "image"), _points(ground, "ground")
        if polygon_area(img) < 1.0 or polygon_area(gnd) < 1e-6:
            raise CalibrationError("calibration points are degenerate (three or more on one line)")
        h = cv2.getPerspectiveTransform(img.astype(np.float32), gnd.astype(np.float32))
        if not np.isfinite(h).all() or abs(np.linalg.det(h)) < 1e-12:
            raise CalibrationError("calibration points give no valid homography")
        return cls(h)

    @classmethod
    def from_config(cls, cfg: dict[str, Any] | None) -> GroundCalibration | None:
        if not cfg:
            return None
        if "image" not in cfg or "ground" not in cfg:
            raise CalibrationError("calibration needs 'image' and 'ground' point lists")
        return cls.from_points(cfg["image"], cfg["ground"])

    def to_ground(self, points: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2)
        if len(pts) == 0:
            return np.zeros((0, 2))
        return cv2.perspectiveTransform(pts, self.homography).reshape(-1, 2)

    def area_m2(self, image_polygon: Sequence[Sequence[float]]) -> float:
        """Ground area of a polygon drawn on the image (the polygon must lie on the ground,
        below the horizon)."""
        return polygon_area(self.to_ground(image_polygon))
