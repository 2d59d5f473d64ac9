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


def saturated_fraction(view: FrameView) -> float:
    return float(np.count_nonzero(view.grey >= 250) / view.grey.size)
