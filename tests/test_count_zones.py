"""Zones on the image: people counted by their foot point, areas from a 4-point ground
calibration, density in people per m²."""

from __future__ import annotations

import numpy as np
import pytest

from lookout.counting.calibration import CalibrationError, GroundCalibration
from lookout.counting.zones import ImageZone

# a 10 m × 20 m ground rectangle seen in perspective: the far edge (top of the image) is shorter
IMAGE = [[300, 100], [500, 100], [700, 500], [100, 500]]
GROUND = [[0, 20], [10, 20], [10, 0], [0, 0]]


def test_homography_maps_the_calibration_points_and_gives_areas():
    cal = GroundCalibration.from_points(IMAGE, GROUND)
    np.testing.assert_allclose(cal.to_ground(IMAGE), GROUND, atol=1e-6)
    assert cal.area_m2(IMAGE) == pytest.approx(200.0, rel=1e-6)
    # the middle of the image is not the middle of the ground: the far half is compressed
    mid = cal.to_ground([[400, 300]])[0]
    assert mid[0] == pytest.approx(5.0, abs=1e-6) and mid[1] == pytest.approx(5.0, abs=1e-6)


def test_zone_count_and_density():
    cal = GroundCalibration.from_config({"image": IMAGE, "ground": GROUND})
    zone = ImageZone("plaza", IMAGE, calibration=cal)
    feet = [(400, 300), (150, 490), (650, 480), (50, 300), (400, 50)]  # the last two are outside
    c = zone.count(feet)
    assert c.count == 3 and c.area_m2 == pytest.approx(200.0)
    assert c.density == pytest.approx(3 / 200.0)
    assert zone.count([]).count == 0
    assert ImageZone("z", IMAGE, area_m2=50).count(feet).density == pytest.approx(3 / 50)
    assert ImageZone("z", IMAGE).count(feet).density is None


def test_bad_calibration_and_zones_are_refused():
    with pytest.raises(CalibrationError, match="4 \\[x, y\\] pairs"):
        GroundCalibration.from_points(IMAGE[:3], GROUND[:3])
    with pytest.raises(CalibrationError, match="degenerate"):
        GroundCalibration.from_points([[0, 0], [1, 1], [2, 2], [3, 3]], GROUND)
    with pytest.raises(CalibrationError, match="'image' and 'ground'"):
        GroundCalibration.from_config({"image": IMAGE})
    assert GroundCalibration.from_config(None) is None
    with pytest.raises(ValueError, match="at least 3"):
        ImageZone("z", [[0, 0], [1, 1]])
