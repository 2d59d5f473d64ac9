"""Blur (defocus): the blur effect of Crété-Roffet et al. (2007), taken where the picture is sharpest.

Blurring a sharp picture removes much of its neighbour-to-neighbour variation; blurring an
already blurred one removes little. The ratio is 0 (sharp) … 1 (blurred). A scene may be
mostly sky or wall, but a focused camera still has sharp edges somewhere: so the measure
is a low percentile of the per-block blur effect over the better-textured half of the
blocks. With a reference picture the increase over the reference's own value is used.
"""

from __future__ import annotations

import cv2
import numpy as np

from lookout.health.vqd.frames import FrameView, block_means

GRID = (8, 6)
PERCENTILE = 20


def blur_effect(view: FrameView) -> float:
    f = view.mid.astype(np.float32)
    s_f = s_v = None
    for ksize, horizontal in (((9, 1), True), ((1, 9), False)):  # cv2 ksize is (width, height)
        b = cv2.blur(f, ksize)
        if horizontal:
            d_f = cv2.absdiff(f[:, 1:], f[:, :-1])
            d_b = cv2.absdiff(b[:, 1:], b[:, :-1])
        else:
            d_f = cv2.absdiff(f[1:, :], f[:-1, :])
            d_b = cv2.absdiff(b[1:, :], b[:-1, :])
        d_v = cv2.max(cv2.subtract(d_f, d_b), 0.0)
        bf = block_means(d_f, GRID)
        bv = block_means(d_v, GRID)
        s_f = bf if s_f is None else s_f + bf
        s_v = bv if s_v is None else s_v + bv
    if float(s_f.max()) <= 1e-6:
        return 1.0
    per_block = (s_f - s_v) / (s_f + 1e-6)
    textured = s_f >= np.percentile(s_f, 50)
    return float(np.percentile(per_block[textured], PERCENTILE))
