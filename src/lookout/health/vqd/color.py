"""Colour cast: the picture's average colour is pushed away from neutral, more than its own colour spread.

The cast factor K = D / M (D the distance of the mean chroma from neutral in Lab, M the mean
distance of pixels from that mean) is the usual measure; a grey-scale night picture has
D ≈ 0 and so no cast. With the channel's reference picture the change from it is measured
instead. A change of light or exposure passes all three channels through one tone curve (the
camera's gamma and knee make it a power, not a plain gain, so vivid colours turn paler when the
picture brightens); a cast scales the channels unequally. So the change is fitted, over the blocks'
channel levels, as one common power with its own gain per channel (``tone_cast``), and the cast is
how unequal the three gains are. Where that cannot be fitted, how unequally the channels changed in
the blocks neither clipped nor black (``gain_cast``), or the median change of the blocks'
chromaticity.
"""

from __future__ import annotations

import cv2
import numpy as np

from lookout.health.vqd.frames import FrameView, median
from lookout.health.vqd.reference import chroma_blocks, is_grey_picture

__all__ = ["cast_factor", "chroma_blocks", "chroma_shift", "gain_cast", "tone_cast"]


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
    med = np.array([median(d[:, k]) for k in range(3)])  # per channel: np.median's bookkeeping costs more
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


#: a block's channel level carries its colour between these (below: sensor noise and rounding rule
#: it; above: clipped)
TONE_LEVELS = (5.0, 240.0)
TONE_MIN_BLOCKS = 8  # blocks per channel needed to fit the tone curve
TONE_FIT_TOL = 0.1  # log units: a block's channel further off the fitted curve (and off 3 × the median) is not the light's


def tone_cast(cur: np.ndarray, ref: np.ndarray, rounds: int = 3) -> float | None:
    """How unequal the three channels' gains are, in percentage points of chromaticity (as
    ``gain_cast``), once the change from the reference is fitted as one tone curve common to the
    channels: log level now = slope × log level then + the channel's own offset, over every block
    whose channel is neither dark nor clipped in both pictures, refitted on the blocks it explains
    (a coloured object or a cover does not follow the light). `cur` and `ref` come from
    ``chroma_blocks``, both of colour pictures (a grey-scale one has no cast to measure). None when
    a channel has too few blocks."""
    now = (cur[..., :3] * (3.0 * cur[..., 3:4])).reshape(-1, 3)
    then = (ref[..., :3] * (3.0 * ref[..., 3:4])).reshape(-1, 3)
    lo, hi = TONE_LEVELS
    usable = (now > lo) & (now < hi) & (then > lo) & (then < hi)
    y, x = np.log(np.maximum(now, 1.0)), np.log(np.maximum(then, 1.0))
    keep = usable
    for _ in range(rounds):
        n = keep.sum(axis=0)
        if n.min() < TONE_MIN_BLOCKS:
            return None
        mean_x = np.where(keep, x, 0.0).sum(axis=0) / n
        mean_y = np.where(keep, y, 0.0).sum(axis=0) / n
        dev_x = np.where(keep, x - mean_x, 0.0)
        slope = float((dev_x * (y - mean_y)).sum() / max(float((dev_x * dev_x).sum()), 1e-9))
        offset = mean_y - slope * mean_x
        off_curve = np.abs(y - slope * x - offset)
        keep = usable & (off_curve < max(TONE_FIT_TOL, 3.0 * median(off_curve[usable])))
    return gain_cast(np.exp(offset - offset.mean()))
