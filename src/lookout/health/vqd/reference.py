"""Occlusion and scene change, compared with the channel's reference picture (and without one).

With a reference: estimate the global shift (phase correlation); a large confident shift
means the camera turned. Otherwise align the small shift (vibration) away and compare the
two pictures block by block with zero-mean normalised correlation of smoothed grey
levels, which ignores lighting changes and grey-scale night pictures. Blocks that no
longer match form either one large connected region with the rest of the view still
matching (occlusion) or most of the view (scene change).

Without a reference: occlusion is a large connected region of texture-less blocks joined
to the frame border, well below the picture's own texture, which is weaker evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lookout.health.vqd.frames import FrameView, block_means

GRID = (16, 12)  # blocks across, down
MATCH_NCC = 0.5
TEXTURED_STD = 4.0


@dataclass(frozen=True)
class RefCompare:
    shift: float  # global shift as a share of the picture width
    shift_response: float  # phase-correlation confidence 0..1
    unmatched: float  # share of informative blocks that no longer match
    occluded_region: float  # share of all blocks in the largest connected unmatched region
    informative: float  # share of blocks usable for matching


def _blocks(img: np.ndarray) -> np.ndarray:
    gw, gh = GRID
    h, w = img.shape
    bh, bw = h // gh, w // gw
    return img[: bh * gh, : bw * gw].reshape(gh, bh, gw, bw).transpose(0, 2, 1, 3).reshape(gh, gw, bh * bw)


def prepare_reference(ref: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The reference as a small smoothed grey float32 picture of `size` (w, h)."""
    g = ref if ref.ndim == 2 else cv2.cvtColor(ref, cv2.COLOR_BGR2GRAY)
    g = cv2.resize(g, size, interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(g.astype(np.float32), (0, 0), 1.5)


def compare(view: FrameView, ref_small: np.ndarray) -> RefCompare:
    cur = cv2.GaussianBlur(view.grey.astype(np.float32), (0, 0), 1.5)
    if cur.shape != ref_small.shape:
        ref_small = cv2.resize(ref_small, (cur.shape[1], cur.shape[0]), interpolation=cv2.INTER_AREA)
    h, w = cur.shape
    win = cv2.createHanningWindow((w, h), cv2.CV_32F)
    # phaseCorrelate applies the window in place on its inputs (OpenCV 4.x): pass copies
    (dx, dy), resp = cv2.phaseCorrelate(ref_small.copy(), cur.copy(), win)
    shift = float(np.hypot(dx, dy) / w)
    aligned = ref_small
    if 0.002 < shift <= 0.06:
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        aligned = cv2.warpAffine(ref_small, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    # block statistics from block means of x, y, x², y², xy (exact for whole blocks)
    mr, mc = block_means(aligned, GRID), block_means(cur, GRID)
    rs = np.sqrt(np.maximum(block_means(aligned * aligned, GRID) - mr * mr, 0.0))
    cs = np.sqrt(np.maximum(block_means(cur * cur, GRID) - mc * mc, 0.0))
    ncc = (block_means(aligned * cur, GRID) - mr * mc) / (rs * cs + 1e-3)
    # contrast may change as a whole (dusk, gain, exposure): compare texture after that change
    both = (rs >= TEXTURED_STD) & (cs >= 1.0)
    gain = float(np.clip(np.median(cs[both] / rs[both]), 0.05, 20.0)) if both.sum() >= 8 else 1.0
    csn = cs / gain
    lo, hi = np.minimum(rs, csn), np.maximum(rs, csn)
    cur_mean = mc
    exposed = (cur_mean > 8) & (cur_mean < 247)  # black or burnt-out blocks are exposure faults
    # texture appeared or vanished (a cloth, a branch), or both textured and no longer alike
    texture_change = exposed & (hi >= 2 * TEXTURED_STD) & (hi >= 3 * lo)
    comparable = exposed & (lo >= TEXTURED_STD) & (cs >= 2.0)
    informative = comparable | texture_change
    unmatched = texture_change | (comparable & (ncc < MATCH_NCC))
    n_inf = int(informative.sum())
    un_share = float(unmatched.sum() / n_inf) if n_inf else 0.0
    # covered: the block no longer matches and lost texture (things near the lens are out of
    # focus and plain); people and cars passing by bring texture of their own
    covered = (texture_change & (csn < rs)) | (comparable & (ncc < MATCH_NCC) & (csn < 0.5 * rs))
    region = 0.0
    if covered.any() and n_inf:
        # close one-block gaps so a cover that left a few blocks matching is still one region
        closed = cv2.morphologyEx(covered.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
        closed &= informative.astype(np.uint8)
        n_lab, _, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
        if n_lab > 1:
            region = float(stats[1:, cv2.CC_STAT_AREA].max() / n_inf)
    return RefCompare(shift=shift, shift_response=float(resp), unmatched=un_share, occluded_region=region,
                      informative=n_inf / unmatched.size)


def flat_region(view: FrameView) -> float:
    """No reference: share of blocks in the largest texture-less region touching the border."""
    g = view.grey.astype(np.float32)
    b = _blocks(g)
    std = b.std(axis=2)
    texture = float(np.median(std))
    flat = std < max(2.5, 0.15 * texture)
    if not flat.any():
        return 0.0
    n_lab, labels, stats, _ = cv2.connectedComponentsWithStats(flat.astype(np.uint8), connectivity=4)
    best = 0.0
    border = np.zeros_like(flat)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    for k in range(1, n_lab):
        if border[labels == k].any():
            best = max(best, float(stats[k, cv2.CC_STAT_AREA] / flat.size))
    return best
