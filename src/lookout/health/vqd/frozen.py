"""Frozen picture: the picture does not change while time passes.

Two pieces of evidence, both needed for "frozen":
- no structural change: the share of the picture (in blocks) whose mean absolute change
  exceeds the coding noise in any compared pair — frames a quarter of the clip or more
  apart and neighbours — stays small. An on-screen clock keeps changing over a frozen
  picture, but only in one small compact patch, which does not count.
- no live noise: a live camera's neighbouring frames differ a little even in flat areas
  (sensor noise); a frozen source encodes to identical frames. Measured as the smallest
  mean absolute difference, over neighbouring pairs, in the flattest 40 % of blocks.

Over time (:func:`changed_since`): a patrol that finds a picture frozen compares it with the picture
the previous patrol found frozen. A frozen camera shows the same picture half an hour later; a live
still scene does not once the light has moved (sun, clouds, lamps), which a few seconds of frames
cannot show.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from lookout.health.vqd.frames import FrameView, block_means, block_sums, quantile

BLOCK = 8
BLOCK_CHANGE = 3.0  # grey levels of mean absolute change that count as a real change


def _blocks(a: np.ndarray) -> np.ndarray:
    """Means of BLOCK×BLOCK blocks; uint8 input is summed through the integral image (no float copy)."""
    h, w = a.shape
    grid = (w // BLOCK, h // BLOCK)
    if a.dtype == np.uint8:
        return block_sums(a, grid) * (1.0 / (BLOCK * BLOCK))
    return block_means(a.astype(np.float32), grid)


def _overlay_discount(union: np.ndarray) -> int:
    """Blocks of the largest compact patch (an OSD clock or text line) up to 4 % of the picture."""
    n_lab, _, stats, _ = cv2.connectedComponentsWithStats(union.astype(np.uint8), connectivity=8)
    if n_lab <= 1:
        return 0
    areas = stats[1:, cv2.CC_STAT_AREA]
    k = int(np.argmax(areas)) + 1
    bw, bh = stats[k, cv2.CC_STAT_WIDTH], stats[k, cv2.CC_STAT_HEIGHT]
    if areas[k - 1] <= 0.04 * union.size and bh <= 0.15 * union.shape[0] and bw * bh <= 3 * areas[k - 1]:
        return int(areas[k - 1])
    return 0


def _changed_share(changed: np.ndarray) -> float:
    """Share of the blocks that changed, the largest compact patch (an OSD clock) left out."""
    count = int(changed.sum())
    return max(0, count - _overlay_discount(changed)) / changed.size if count else 0.0


def motion_measures(views: Sequence[FrameView]) -> tuple[float, float] | None:
    """(changed share, live-noise level) of a clip; None when it has fewer than 2 frames."""
    n = len(views)
    if n < 2:
        return None
    greys = [v.grey for v in views]
    if any(g.shape != greys[0].shape for g in greys):
        return 1.0, 99.0  # the picture size changed: not frozen
    gap = max(1, n // 4)
    pairs = {(i, i + 1) for i in range(n - 1)} | {(i, j) for i in range(n) for j in range(i + gap, n, gap)}
    union = None
    for i, j in sorted(pairs):
        ch = _blocks(cv2.absdiff(greys[i], greys[j])) >= BLOCK_CHANGE
        union = ch if union is None else union | ch
    changed = _changed_share(union)
    texture = _blocks(np.abs(cv2.Laplacian(greys[0], cv2.CV_32F, ksize=3)))
    flat = texture <= quantile(texture, 0.40)
    live = min(float(_blocks(cv2.absdiff(greys[i], greys[i + 1]))[flat].mean()) for i in range(n - 1))
    return changed, live


def changed_since(before: FrameView, now: FrameView) -> float:
    """Share of the picture that changed between two moments (blocks beyond the coding noise, the
    largest compact patch such as an OSD clock left out); 1.0 when the picture size changed."""
    if before.grey.shape != now.grey.shape:
        return 1.0
    return _changed_share(_blocks(cv2.absdiff(before.grey, now.grey)) >= BLOCK_CHANGE)
