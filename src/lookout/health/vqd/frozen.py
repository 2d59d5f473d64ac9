"""Frozen picture: the picture does not change while time passes.

Two pieces of evidence, both needed for "frozen":
- no structural change: the share of the picture (in blocks) that changed in any compared pair —
  frames a quarter of the clip or more apart and neighbours — stays small. Coding at a constant
  bit rate changes a still picture's frames by itself (its P-frames keep refining it, every key
  frame starts coarse again), so a change counts only where coding does not make one:
  * the block's brightness shifted: the signed change of its mean, averaged with its neighbours'
    (3×3 blocks), reaches 3 grey levels. A moved object, a pan or a change of light shifts
    neighbouring blocks alike; re-quantization shifts each block on its own, by different
    amounts and signs that average out;
  * or its detail moved: the block has detail in both frames, about as much in each, and the
    detail no longer lines up (leaves in the wind, water). Coding changes how much detail a block
    keeps, not where it lies (mostly: an encoder without a deblocking filter replaces detail with
    block patterns in its coarse key frames, which can read as moved over many frames).
  An on-screen clock keeps changing over a frozen picture, but only in one small compact patch,
  which does not count.
- no live noise: a live camera's neighbouring frames differ a little even in flat areas
  (sensor noise); a frozen source encodes to identical frames. Measured as the smallest
  mean absolute difference, over neighbouring pairs, in the flattest 40 % of blocks. An encoder
  without a deblocking filter at a constant bit rate keeps refining a frozen picture, block by
  block: a change that lies on the coding grid (its steps across the 4- or 8-pixel block
  boundaries of the native picture well above its steps elsewhere) is the coder's, not a
  sensor's, and does not count. Coding at a constant bit rate wipes a live scene's sensor noise
  out too, so there a live still scene reads as frozen within a clip; time tells them apart
  ("Over time" below).
- … nor between key frames coded at one quality. A key frame is coded anew, not from the frame
  before it, so a live sensor's noise shows between two key frames even where the encoder skips it
  in every P-frame (a coder at constant quality on a textured still scene). Two key frames coded
  from one unchanged picture at about the same quality differ by the coder's rate control alone;
  two that differ by more in their flat areas (native crops, the flattest 40 % of blocks) show a
  live sensor. Key frames whose fine detail differs (a coder at a constant bit rate codes each
  key frame at the quality its buffer allows) differ by that alone, so such a pair does not count.

Over time (:func:`changed_since`): a patrol that finds a picture frozen compares it with the picture
the previous patrol found frozen, by the same structural change. A frozen camera shows the same
picture half an hour later; a live still scene does not once the light has moved (sun, clouds,
lamps), which a few seconds of frames cannot show.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from lookout.health.vqd.frames import FrameView, block_means, block_sums, quantile

BLOCK = 8
BLOCK_CHANGE = 3.0  # grey levels of change of a block's mean (with its neighbours') that count
SPREAD = 3  # blocks: a block's change is averaged over SPREAD × SPREAD blocks around it
DETAIL = 64.0  # mean squared Laplacian of a block with detail (RMS 8 grey levels)
SAME_DETAIL = 0.8  # as much detail in both frames: the smaller at least this share of the larger
MOVED_DETAIL = 0.2  # detail that no longer lines up: correlation of the two Laplacians below this
ON_GRID = (1.4, 1.7)  # a change's on-grid step ratio: a sensor's below the first, the coder's above the second
#: two key frames are coded at one quality when the smaller of their mean absolute Laplacians in the flat
#: blocks is at least this share of the larger (bench/vqd/frozen_cbr.py: a constant-bit-rate coder codes
#: the key frames of one frozen picture at the quality its buffer allows, and they differ by up to 7.5 levels)
SAME_QUALITY = 0.95


def _blocks(a: np.ndarray) -> np.ndarray:
    """Means of BLOCK×BLOCK blocks; uint8 input is summed through the integral image (no float copy)."""
    h, w = a.shape
    grid = (w // BLOCK, h // BLOCK)
    if a.dtype == np.uint8:
        return block_sums(a, grid) * (1.0 / (BLOCK * BLOCK))
    return block_means(a.astype(np.float32, copy=False), grid)


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


@dataclass(frozen=True)
class _Structure:
    """What the structural change compares of a frame: block means, its Laplacian and the blocks' detail."""

    means: np.ndarray
    laplacian: np.ndarray
    detail: np.ndarray  # mean squared Laplacian per block


def _structure(grey: np.ndarray) -> _Structure:
    lap = cv2.Laplacian(grey, cv2.CV_32F, ksize=3)
    return _Structure(_blocks(grey), lap, _blocks(lap * lap))


def _structural_change(before: _Structure, now: _Structure) -> np.ndarray:
    """Blocks that changed between two frames beyond what coding does (see the module's note)."""
    shifted = np.abs(cv2.blur(now.means - before.means, (SPREAD, SPREAD))) >= BLOCK_CHANGE
    less = np.minimum(before.detail, now.detail)
    more = np.maximum(before.detail, now.detail)
    lined_up = _blocks(before.laplacian * now.laplacian) / np.sqrt(before.detail * now.detail + 1e-6)
    moved = (less >= DETAIL) & (less >= SAME_DETAIL * more) & (lined_up < MOVED_DETAIL)
    return shifted | moved


def _changed_share(changed: np.ndarray) -> float:
    """Share of the blocks that changed, the largest compact patch (an OSD clock) left out."""
    count = int(changed.sum())
    return max(0, count - _overlay_discount(changed)) / changed.size if count else 0.0


def _phase_steps(steps: np.ndarray, period: int) -> tuple[float, float]:
    """Summed over the crops (rows of ``steps``, each crop's mean step across each boundary): the
    mean step at each crop's strongest phase of ``period``, and the mean step at its other phases."""
    n = steps.shape[1] // period * period
    phases = steps[:, :n].reshape(len(steps), -1, period).mean(axis=1)  # (crops, period)
    best = phases.max(axis=1)
    return float(best.sum()), float(((phases.sum(axis=1) - best) / (period - 1)).sum())


def on_grid(crops: Sequence[np.ndarray]) -> float:
    """How much the changes between neighbouring frames' native crops (square, side by side) lie on
    a coding block grid: the step of the differences across each crop's strongest 4- or 8-pixel
    phase of columns and rows, over the step at the other phases. About 1 for a
    sensor's noise; 2–3 for an encoder without a deblocking filter refining a still picture.
    1.0 when nothing changed."""
    if any(x.shape != crops[0].shape for x in crops):
        return 1.0  # the picture size changed: nothing to compare
    c = crops[0].shape[0]
    k = crops[0].shape[1] // c
    stack = np.stack([x[:, :k * c] for x in crops]).astype(np.int16).reshape(len(crops), c, k, c)
    d = np.diff(stack, axis=0)  # (pairs, rows, crop, columns)
    # summed steps (the means' common divisors cancel in the ratio), in integers: float means cost more
    across_cols = np.abs(np.diff(d, axis=3)).sum(axis=(0, 1), dtype=np.int32)  # (crop, column boundary)
    across_rows = np.abs(np.diff(d, axis=1)).sum(axis=(0, 3), dtype=np.int32).T  # (crop, row boundary)
    best = 1.0
    for period in (4, 8):
        on_c, off_c = _phase_steps(across_cols, period)
        on_r, off_r = _phase_steps(across_rows, period)
        if off_c + off_r > 0:
            best = max(best, (on_c + on_r) / (off_c + off_r))
    return best


def _sensor_share(grid_ratio: float) -> float:
    """The share of a change between neighbouring frames that counts as a live sensor's (see ON_GRID)."""
    lo, hi = ON_GRID
    return float(np.clip((hi - grid_ratio) / (hi - lo), 0.0, 1.0))


def _flattest(abs_laplacian: np.ndarray) -> np.ndarray:
    """The flattest 40 % of a picture's blocks, by their mean absolute Laplacian, where a live
    sensor's noise shows and detail does not."""
    texture = _blocks(abs_laplacian)
    return texture <= quantile(texture, 0.40)


class Motion(NamedTuple):
    changed: float  # share of the picture that changed in any compared pair
    live_noise: float  # live-noise level between neighbouring frames
    key_noise: float  # live-noise level between key frames coded at one quality; NaN without two key frames


def key_frame_noise(views: Sequence[FrameView]) -> float:
    """The live-noise level between a clip's key frames (see the module's note): over neighbouring key
    frames, the smallest mean absolute difference in the flattest 40 % of the native crops' blocks,
    a pair coded at different quality counting as no difference; as between neighbouring frames, a
    change on the coding grid does not count. NaN with fewer than two."""
    if len(views) < 2 or any(v.crops.shape != views[0].crops.shape for v in views):
        return float("nan")
    laplacians = [np.abs(cv2.Laplacian(v.crops, cv2.CV_32F, ksize=3)) for v in views]
    flat = _flattest(laplacians[0])
    detail = [float(_blocks(lap)[flat].mean()) for lap in laplacians]
    noise = math.inf
    for k in range(len(views) - 1):
        less, more = sorted((detail[k], detail[k + 1]))
        differ = float(_blocks(cv2.absdiff(views[k].crops, views[k + 1].crops))[flat].mean())
        noise = min(noise, differ if less >= SAME_QUALITY * more else 0.0)
    return noise * _sensor_share(on_grid([v.crops for v in views]))


def motion_measures(views: Sequence[FrameView], key_frames: Sequence[int] = ()) -> Motion | None:
    """What tells a frozen clip from a live one; None when it has fewer than 2 frames. ``key_frames``:
    the indices of the views that were coded as key frames."""
    n = len(views)
    if n < 2:
        return None
    greys = [v.grey for v in views]
    if any(g.shape != greys[0].shape for g in greys):
        return Motion(1.0, 99.0, float("nan"))  # the picture size changed: not frozen
    gap = max(1, n // 4)
    pairs = {(i, i + 1) for i in range(n - 1)} | {(i, j) for i in range(n) for j in range(i + gap, n, gap)}
    structures = [_structure(g) for g in greys]
    union = None
    for i, j in sorted(pairs):
        ch = _structural_change(structures[i], structures[j])
        union = ch if union is None else union | ch
    changed = _changed_share(union)
    flat = _flattest(np.abs(structures[0].laplacian))
    live = min(float(_blocks(cv2.absdiff(greys[i], greys[i + 1]))[flat].mean()) for i in range(n - 1))
    live *= _sensor_share(on_grid([v.crops for v in views]))
    return Motion(changed, live, key_frame_noise([views[k] for k in sorted(set(key_frames)) if 0 <= k < n]))


def changed_since(before: FrameView, now: FrameView) -> float:
    """Share of the picture that changed between two moments (structural change as within a clip, the
    largest compact patch such as an OSD clock left out); 1.0 when the picture size changed."""
    if before.grey.shape != now.grey.shape:
        return 1.0
    return _changed_share(_structural_change(_structure(before.grey), _structure(now.grey)))
