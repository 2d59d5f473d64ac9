"""Zones on a camera image: instantaneous count and density (pure logic).

A zone is a polygon in image pixels; a person is inside when the anchor (box bottom-centre,
where the feet are) is inside. The area in m² comes from the camera's ground calibration
(``calibration.GroundCalibration``) or is given directly; density = people / m².
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from lookout.counting.calibration import GroundCalibration


@dataclass(frozen=True)
class ZoneCount:
    name: str
    count: int
    area_m2: float | None
    density: float | None  # people per m²


class ImageZone:
    def __init__(self, name: str, polygon: Sequence[Sequence[float]], area_m2: float | None = None,
                 calibration: GroundCalibration | None = None, zone_id: int | None = None) -> None:
        poly = np.asarray(polygon, dtype=np.float32)
        if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3:
            raise ValueError(f"zone {name!r}: polygon needs at least 3 [x, y] points")
        self.name, self.zone_id = name, zone_id
        self.polygon = poly
        if area_m2 is None and calibration is not None:
            area_m2 = calibration.area_m2(poly)
        if area_m2 is not None and area_m2 <= 0:
            raise ValueError(f"zone {name!r}: area must be positive, got {area_m2}")
        self.area_m2 = area_m2

    def contains(self, points: np.ndarray) -> np.ndarray:
        contour = self.polygon.reshape(-1, 1, 2)
        return np.array([cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in points], bool)

    def count(self, anchors: Sequence[tuple[float, float]] | np.ndarray) -> ZoneCount:
        pts = np.asarray(anchors, dtype=np.float32).reshape(-1, 2)
        n = int(self.contains(pts).sum()) if len(pts) else 0
        density = n / self.area_m2 if self.area_m2 else None
        return ZoneCount(self.name, n, self.area_m2, density)
