"""Noise (snow): the standard deviation of pixel noise, estimated on native-resolution crops.

Immerkær's fast estimate (a Laplacian difference mask) averaged over 16×16 blocks; the
quietest blocks (10th percentile) give the noise level, so that edges and texture do not
pass for noise.
"""

from __future__ import annotations

import cv2
import numpy as np

from lookout.health.vqd.frames import FrameView, quantile

_MASK = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def noise_sigma(view: FrameView, block: int = 16, percentile: float = 10.0) -> float:
    """Noise sigma from the quietest blocks: texture varies from block to block, noise does not."""
    g = view.crops.astype(np.float32)
    resp = np.abs(cv2.filter2D(g, -1, _MASK, borderType=cv2.BORDER_REFLECT))[1:-1, 1:-1]
    h, w = resp.shape
    b = resp[: h // block * block, : w // block * block]
    per_block = b.reshape(h // block, block, w // block, block).mean(axis=(1, 3))
    return float(np.sqrt(np.pi / 2) / 6.0 * quantile(per_block, percentile / 100.0))
