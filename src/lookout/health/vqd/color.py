"""Colour cast: the picture's average colour is pushed away from neutral, more than its own colour spread.

The cast factor K = D / M (D the distance of the mean chroma from neutral in Lab, M the mean
distance of pixels from that mean) is the usual measure; a grey-scale night picture has
D ≈ 0 and so no cast. With the channel's reference picture the change from it is measured
instead: how unequally the three colour channels changed in the blocks neither clipped nor
black (``gain_cast``), or where too few are, the median change of the blocks' chromaticity.
"""

from __future__ import annotations

import cv2
import numpy as np

from lookout.health.vqd.frames import FrameView
from lookout.health.vqd.reference import chroma_blocks, is_grey_picture

__all__ = ["cast_factor", "chroma_blocks", "chroma_shift", "gain_cast"]


def cast_factor(view: FrameView) -> tuple[float, float]:
    """(K, D): the cast factor and the chroma offset D in Lab units."""
    # mean and spread of a whole picture: a half-size copy gives the same figures at a quarter of the cost
    lab = cv2.cvtColor(view.color_half, cv2.COLOR_BGR2LAB)
    mean, std = cv2.meanStdDev(lab)
    da, db = float(mean[1, 0]) - 128.0, float(mean[2, 0]) - 128.0
    d = float(np.hypot(da, db))
    m = 0.8 * float(np.hypot(std[1, 0], std[2, 0]))  # ≈ the mean absolute deviation of a normal spread
    return d / (m + 2.0), d


def chroma_shift(cur: np.ndarray, ref_blocks: np.ndarray) -> float:
    """Median per-block change of chromaticity from the reference, in percentage points.

    `cur` and `ref_blocks` come from ``chroma_blocks``. A cast moves every block's colour
    the same way; a coloured object or cloth moves only the blocks it covers, so the median
    ignores it. Black and burnt-out blocks carry no colour and are left out; a grey-scale
    picture (night, IR) has no cast.
    """
    valid = (cur[..., 3] > 25) & (cur[..., 3] < 230) & (ref_blocks[..., 3] > 25) & (ref_blocks[..., 3] < 230)
    if valid.sum() < 8:
        return 0.0
    if is_grey_picture(cur):
        return 0.0  # grey-scale picture
    d = (cur[..., :3] - ref_blocks[..., :3])[valid]
    med = np.median(d, axis=0)
    return float(100.0 * np.sqrt((med * med).sum()))


def gain_cast(gains: np.ndarray) -> float:
    """How unequal the overall change of the three colour channels is, in percentage points of
    chromaticity: 0 when the light changed alike in all three (brighter, dimmer).

    `gains` is the change most unclipped blocks agree on (``reference.compare``). Unlike the
    median change of block colours, it does not see saturated colours clipped by a brighter
    picture (a yellow flower turning paler) as a cast: those blocks are left out.
    """
    g = np.asarray(gains, np.float64)
    c = g / max(float(g.sum()), 1e-6)
    return float(100.0 * np.sqrt(((c - 1.0 / 3.0) ** 2).sum()))
