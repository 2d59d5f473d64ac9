"""Signal loss: no picture — a black, blue or solid screen, or a "no video" card with a little text."""

from __future__ import annotations

import cv2
import numpy as np

from lookout.health.vqd.frames import FrameView


def solid_fraction(view: FrameView, tol: int = 2) -> tuple[float, int]:
    """(share of the picture within ±tol grey levels of its most common level, that level), on a denoised copy."""
    g = cv2.blur(view.grey, (3, 3))
    hist = np.bincount(g.ravel(), minlength=256).astype(np.float64)
    window = np.convolve(hist, np.ones(2 * tol + 1), mode="same")
    k = int(np.argmax(window))
    return float(window[k] / g.size), k
