"""Brightness faults: too dark (even the brightest parts are dark), too bright (washed out or burnt out)."""

from __future__ import annotations

import numpy as np

from lookout.health.vqd.frames import FrameView


def percentiles(view: FrameView) -> tuple[float, float, float]:
    """(5th percentile, mean, 95th percentile) of the grey levels."""
    hist = np.bincount(view.grey.ravel(), minlength=256)
    cdf = np.cumsum(hist) / view.grey.size
    p5 = float(np.searchsorted(cdf, 0.05))
    p95 = float(np.searchsorted(cdf, 0.95))
    mean = float((hist * np.arange(256)).sum() / view.grey.size)
    return p5, mean, p95


#: grey level from which a pixel counts as burnt out
BURNT = 250
#: a reference pixel this bright burns out at an ordinary exposure step (+8 %): a hazy sky, snow
NEAR_BURNT = 230


def saturated_fraction(view: FrameView, level: int = BURNT) -> float:
    """Share of the pixels at `level` or brighter."""
    return float(np.count_nonzero(view.grey >= level) / view.grey.size)
