"""Occlusion and scene change, compared with the channel's reference picture (and without one).

With a reference: estimate the global shift (phase correlation); a large confident shift
means the camera turned (and when the picture, moved back by it, still correlates with the
reference where they overlap, it turned along the same scene: ``shift_match``). Otherwise
align the small shift (vibration) away and compare the two pictures block by block with
zero-mean normalised correlation of smoothed grey levels, which ignores lighting changes and
grey-scale night pictures. Blocks that no
longer match make up most of the view when the camera turned (scene change).

Occlusion is told apart from passers-by and lighting by what a cover near the lens looks
like: it is out of focus, so it is *plain* now, and it differs from the reference there.
Per pixel of a half-size copy: locally plain (3×3 spread) and off the overall tone change
(a quadratic fitted robustly to the block levels, clipped like a camera clips) or off the
overall colour change (a gain per channel), with a tolerance that grows for dark pixels;
per block: texture vanished or structure no longer matching while plain. The measure is
the covered share of the whole view in the largest connected region of partly covered
blocks; over a clip each block counts by its median over the frames (people walk on, a
cover stays). A cover leaves the rest of the view matching; a turned camera does not
(``rest_unmatched``; a cover's soft edge over a surface plain in the reference is new texture
beside it, not part of the rest). The reference is aligned to the current picture only on a
confident phase-correlation peak.

Without a reference: occlusion is a large connected region of texture-less blocks joined
to the frame border, well below the picture's own texture, which is weaker evidence.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from lookout.health.vqd.frames import FrameView, block_means, median

GRID = (16, 12)  # blocks across, down
MATCH_NCC = 0.5
TEXTURED_STD = 4.0
PLAIN_STD = 2.5  # grey levels: a block this flat (after smoothing) has no texture of its own
LEVEL_TOL = 18.0  # grey levels off the fitted overall tone change
CHROMA_TOL = 0.045  # chromaticity change beyond the overall colour change
CHROMA_NOISE = 2.0  # grey levels: chromaticity tolerance added for dark pixels, over their level
PLAIN_PIXEL_STD = 3.0  # local (5×5) grey-level spread of a plain, out-of-focus cover
COVER_SHARE = 0.5  # share of a block's pixels that look covered for the block to count as covered
ALIGN_RESPONSE = 0.05  # phase-correlation response below which the shift estimate is noise
ALIGN_MAX_SHIFT = 0.06  # share of the width: a larger shift is a turn, not vibration to align away
PLAIN_REFERENCE = 0.125  # share of textured blocks below which a reference is a plain view (a pale wall)
MIN_REST_BLOCKS = 8  # blocks outside a cover needed to say whether the rest of the view still matches
REGION_SEED = 0.3  # share of a block's pixels that look covered for it to join a covered region
GREY_WEIGHTS = (0.114, 0.587, 0.299)  # B, G, R
GAIN_AGREE = 0.08  # log units: blocks whose colour changed alike (within about 8 %) share one overall change
GAIN_CANDIDATES = 24  # blocks tried as the overall colour change


@dataclass(frozen=True)
class RefView:
    """The reference picture, prepared once per channel and picture size."""

    smooth: np.ndarray  # small grey float32, smoothed, the current picture's size
    chroma: np.ndarray  # per block: chromaticity b, g, r (each over their sum) and level, GRID
    is_grey: bool
    smooth_half: np.ndarray | None = None  # `smooth` at half size
    color_half: np.ndarray | None = None  # small BGR float32 at half the current picture's size
    color_half_planes: tuple[np.ndarray, ...] | None = None  # `color_half` as B, G, R planes
    block_mean: np.ndarray | None = None  # per block of GRID: mean of `smooth`
    block_std: np.ndarray | None = None  # per block of GRID: standard deviation of `smooth`


@dataclass(frozen=True)
class RefCompare:
    shift: float  # global shift as a share of the picture width
    shift_response: float  # phase-correlation confidence 0..1
    unmatched: float  # share of informative blocks that no longer match
    cover: np.ndarray  # per block 0..1: share that is plain now and different from the reference there
    covered: np.ndarray  # bool per block: cover ≥ COVER_SHARE
    exposed: np.ndarray  # bool per block: neither black nor burnt out now
    informative: float  # share of blocks usable for matching
    rest_unmatched: float  # share of informative blocks outside the covered ones that no longer match
    level_corr: float = 0.0  # correlation of the block levels with the reference's (0 when either is flat)
    shift_match: float = 0.0  # correlation of the picture with the reference moved by the shift, where they overlap
    gains: np.ndarray | None = None  # overall change per colour channel (B, G, R); None: grey, or too few blocks
    aligned_by: tuple[float, float] = (0.0, 0.0)  # the shift (small pixels) the reference was aligned by, if any


def _smooth(grey: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 1.5)


def chroma_blocks(color_small: np.ndarray) -> np.ndarray:
    """Per block: chromaticity (b, g, r each divided by their sum) and mean level, shape (rows, cols, 4)."""
    c = block_means(color_small.astype(np.float32), GRID)
    total = c.sum(axis=2, keepdims=True) + 1e-3
    return np.concatenate([c / total, total / 3.0], axis=2)


GREY_SHARE = 0.004  # a grey picture's channels depart from their mean by less than this share of their sum
#: grey levels of departure that coding alone makes: an infrared night picture coded to H.264
#: (yuv420p) and decoded to BGR has its channels a level or two apart
GREY_CHANNEL_SLACK = 2.0


def is_grey_picture(chroma: np.ndarray) -> bool:
    """Whether the picture (its ``chroma_blocks``) is grey-scale: its blocks' channels depart from
    their mean by less than GREY_SHARE of the channels' sum on average. In a dark block that share
    is less than coding's rounding (GREY_CHANNEL_SLACK levels), which there is forgiven."""
    total = 3.0 * chroma[..., 3:4]
    forgiven = np.maximum(GREY_CHANNEL_SLACK - GREY_SHARE * total, 0.0)  # nothing from level 167 up
    departure = np.maximum(np.abs(chroma[..., :3] - 1 / 3) * total - forgiven, 0.0) / (total + 1e-3)
    return float(departure.mean()) < GREY_SHARE


def prepare_reference(ref: FrameView, size: tuple[int, int]) -> RefView:
    """The reference at the current pictures' small size `size` (w, h)."""
    g = cv2.resize(ref.grey, size, interpolation=cv2.INTER_AREA) if ref.grey.shape[::-1] != size else ref.grey
    c = cv2.resize(ref.color, size, interpolation=cv2.INTER_AREA) if ref.grey.shape[::-1] != size else ref.color
    ch = chroma_blocks(c)
    smooth = _smooth(g)
    h, w = smooth.shape
    half = (max(8, w // 2), max(8, h // 2))
    color_half = cv2.resize(c, half, interpolation=cv2.INTER_AREA).astype(np.float32)
    mean, std = _block_mean_std(smooth)
    return RefView(smooth=smooth, chroma=ch, is_grey=is_grey_picture(ch),
                   smooth_half=cv2.resize(smooth, half, interpolation=cv2.INTER_AREA),
                   color_half=color_half, color_half_planes=tuple(cv2.split(color_half)),
                   block_mean=mean, block_std=std)


def _block_mean_std(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per block of GRID: mean and standard deviation (from the block means of x and x²)."""
    m = block_means(img, GRID)
    return m, np.sqrt(np.maximum(block_means(img * img, GRID) - m * m, 0.0))


def _robust_curve(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """y ≈ p(x), a quadratic (gain, offset and a gamma-like bend) fitted on the better-fitting
    half of the points, three rounds (a cover may hide half the view); (coefficients for
    np.polyval, typical residual).

    Two starts, the better fit kept: all points (a gain or a bend over the whole range, as
    a cast or a dusk makes), and the half nearest one common offset (a large cover off the
    tone of a view whose levels span little, e.g. paint over a white wall, which would
    otherwise bend the first fit towards itself).
    """
    x = x.astype(np.float64).ravel()
    y = y.astype(np.float64).ravel()
    # one row per point: x², x, 1, y (the normal equations of any subset are one product)
    rows = np.stack([x * x, x, np.ones_like(x), y], axis=1)
    offset = np.array([0.0, 1.0, median(y - x)])
    k_half = int(0.5 * (x.size - 1))
    r0 = np.abs(y - x - offset[2])
    fits = [_refine_curve(rows, np.ones(x.size, bool), offset, k_half),
            _refine_curve(rows, r0 <= np.partition(r0, k_half)[k_half], offset, k_half)]
    return min(fits, key=lambda f: f[1])


def _refine_curve(rows: np.ndarray, keep: np.ndarray, coef: np.ndarray, k_half: int) -> tuple[np.ndarray, float]:
    x, y = rows[:, 1], rows[:, 3]
    for _ in range(3):
        kept = rows[keep]
        span = float(kept[:, 1].max() - kept[:, 1].min()) if len(kept) else 0.0
        if len(kept) >= 6 and span >= 1e-3:
            g = kept.T @ kept  # sums of x⁴ … 1 and of x²y, xy, y
            # a quadratic over a wide range of levels, a straight line over a narrow one
            lo = 0 if span >= 60.0 else 1
            try:
                c = np.linalg.solve(g[lo:3, lo:3] + 1e-9 * np.eye(3 - lo), g[lo:3, 3])
                coef = c if lo == 0 else np.array([0.0, c[0], c[1]])
            except np.linalg.LinAlgError:
                pass
        r = np.abs(y - ((coef[0] * x + coef[1]) * x + coef[2]))
        keep = r <= np.partition(r, k_half)[k_half]
    return coef, median(r)


@functools.lru_cache(maxsize=8)
def _window(w: int, h: int) -> np.ndarray:
    return cv2.createHanningWindow((w, h), cv2.CV_32F)


def global_shift(ref_small: np.ndarray, cur: np.ndarray, ref_half: np.ndarray | None = None
                  ) -> tuple[tuple[float, float], float]:
    """Global shift (dx, dy) in pixels of `cur` and the phase-correlation response.

    Estimated on half-size copies (the pictures are smoothed already; a quarter of the
    cost) and scaled back; sub-pixel precision of the half-size peak is enough to align
    vibration before the block comparison. `ref_half`, the reference's half-size copy
    made once, is used when it has the right size.
    """
    h, w = cur.shape
    if w >= 128:
        size = (w // 2, h // 2)
        if ref_half is not None and ref_half.shape == (size[1], size[0]):
            a = ref_half.copy()
        else:
            a = cv2.resize(ref_small, size, interpolation=cv2.INTER_AREA)
        b = cv2.resize(cur, size, interpolation=cv2.INTER_AREA)
        scale = w / size[0]
    else:
        a, b, scale = ref_small.copy(), cur.copy(), 1.0
    # phaseCorrelate applies the window in place on its inputs (OpenCV 4.x): a and b are copies
    (dx, dy), resp = cv2.phaseCorrelate(a, b, _window(a.shape[1], a.shape[0]))
    return (dx * scale, dy * scale), float(resp)


@dataclass(frozen=True)
class _Match:
    """The picture matched with the reference block by block (the first half of ``compare``)."""

    cur: np.ndarray  # the picture, smoothed grey
    ref_small: np.ndarray  # the reference at the picture's size, smoothed grey, not aligned
    ref_half: np.ndarray  # the reference at half size, aligned
    ref_color: tuple[np.ndarray, ...] | None  # its colour planes at half size, aligned
    dx: float
    dy: float
    shift: float
    resp: float
    mr: np.ndarray  # per block: level and spread of the aligned reference, level and spread now
    rs: np.ndarray
    mc: np.ndarray
    cs: np.ndarray
    csn: np.ndarray  # spread now after the overall contrast change
    exposed: np.ndarray
    informative: np.ndarray
    mismatch: np.ndarray
    unmatched: float
    aligned_by: tuple[float, float] = (0.0, 0.0)


def _match(view: FrameView, ref: RefView) -> _Match:
    cur = _smooth(view.grey)
    ref_small = ref.smooth
    if cur.shape != ref_small.shape:
        ref_small = cv2.resize(ref_small, (cur.shape[1], cur.shape[0]), interpolation=cv2.INTER_AREA)
    h, w = cur.shape
    half = (max(8, w // 2), max(8, h // 2))
    ref_half, ref_color = ref.smooth_half, ref.color_half_planes
    if ref_half is None or ref_half.shape != half[::-1]:
        ref_half, ref_color = cv2.resize(ref_small, half, interpolation=cv2.INTER_AREA), None
    (dx, dy), resp = global_shift(ref_small, cur, ref_half)
    shift = float(np.hypot(dx, dy) / w)
    aligned = ref_small
    mr, rs = ref.block_mean, ref.block_std
    aligned_by = (0.0, 0.0)
    if 0.002 < shift <= ALIGN_MAX_SHIFT and resp >= ALIGN_RESPONSE:  # a weak peak is no evidence of a shift
        aligned_by = (float(dx), float(dy))
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        aligned = cv2.warpAffine(ref_small, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        mr = None
        mh = np.float32([[1, 0, dx * half[0] / w], [0, 1, dy * half[1] / h]])
        ref_half = cv2.warpAffine(ref_half, mh, half, borderMode=cv2.BORDER_REFLECT)
        if ref_color is not None:
            ref_color = cv2.split(cv2.warpAffine(cv2.merge(ref_color), mh, half, borderMode=cv2.BORDER_REFLECT))
    # block statistics from block means of x, y, x², y², xy (exact for whole blocks)
    if mr is None or rs is None or aligned is not ref.smooth:
        mr, rs = _block_mean_std(aligned)
    mc, cs = _block_mean_std(cur)
    ncc = (block_means(aligned * cur, GRID) - mr * mc) / (rs * cs + 1e-3)
    # contrast may change as a whole (dusk, gain, exposure): compare texture after that change
    # (blocks gone plain are left out: under a large cover they would outvote the rest)
    both = (rs >= TEXTURED_STD) & (cs >= PLAIN_STD)
    gain = float(np.clip(median(cs[both] / rs[both]), 0.05, 20.0)) if both.sum() >= 8 else 1.0
    csn = cs / gain
    lo, hi = np.minimum(rs, csn), np.maximum(rs, csn)
    exposed = (mc > 12) & (mc < 240)  # black or burnt-out blocks are exposure faults
    # texture appeared or vanished (a cloth, a branch), or both textured and no longer alike
    texture_change = exposed & (hi >= 2 * TEXTURED_STD) & (hi >= 3 * lo)
    comparable = exposed & (lo >= TEXTURED_STD) & (cs >= 2.0)
    informative = comparable | texture_change
    mismatch = texture_change | (comparable & (ncc < MATCH_NCC))
    n_inf = int(informative.sum())
    return _Match(cur=cur, ref_small=ref_small, ref_half=ref_half, ref_color=ref_color, dx=dx, dy=dy, shift=shift,
                  resp=float(resp), mr=mr, rs=rs, mc=mc, cs=cs, csn=csn, exposed=exposed, informative=informative,
                  mismatch=mismatch, unmatched=float(mismatch.sum() / n_inf) if n_inf else 0.0, aligned_by=aligned_by)


def view_mismatch(view: FrameView, ref: RefView) -> tuple[float, float, float]:
    """(share of informative blocks that no longer match, global shift, its response): what tells
    which of several reference views a picture shows, without the cost of looking for covers."""
    mt = _match(view, ref)
    return mt.unmatched, mt.shift, mt.resp


def compare(view: FrameView, ref: RefView, cur_chroma: np.ndarray | None = None) -> RefCompare:
    mt = _match(view, ref)
    cur, ref_small, ref_half, ref_color = mt.cur, mt.ref_small, mt.ref_half, mt.ref_color
    mr, rs, mc, cs, csn, exposed = mt.mr, mt.rs, mt.mc, mt.cs, mt.csn, mt.exposed
    informative, mismatch = mt.informative, mt.mismatch
    # covered: plain now, and different from the reference in structure, texture, level or colour
    plain = exposed & ((cs < PLAIN_STD) | (csn < 0.5 * rs))
    cover = (plain & mismatch).astype(np.float32)
    fit = exposed & (mr > 8) & (mr < 247)
    gains = None
    if fit.sum() >= 8:
        if cur_chroma is None:
            cur_chroma = chroma_blocks(view.color)
        pix, gains = _cover_pixels(view, ref, ref_color, cur, ref_half, np.where(fit, mr, np.nan), mc,
                                   cur_chroma, cs >= PLAIN_STD)
        share = cv2.resize(pix, GRID, interpolation=cv2.INTER_AREA)
        cover = np.maximum(cover, np.where(exposed, share, 0.0))
    covered = cover >= COVER_SHARE
    # a cover's soft edge over a plain surface is new texture right beside it, not the view changing
    edge = cv2.dilate((cover >= REGION_SEED).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    rest = informative & ~covered & ~(edge & (rs < TEXTURED_STD))
    if rest.sum() < MIN_REST_BLOCKS and (rs >= TEXTURED_STD).mean() < PLAIN_REFERENCE:
        # a reference of a pale wall has too little texture to judge the rest by structure: its plain
        # blocks speak too, one still at the level and colour the overall change predicts (not
        # covered) being the view unchanged there. (With a textured reference whose every textured
        # block is now hidden, plain wall left at its level is as much a camera turned to the wall.)
        rest = exposed & ~covered & ~edge
    rest_unmatched = float((mismatch & rest).sum() / rest.sum()) if rest.sum() >= MIN_REST_BLOCKS else 1.0
    shift_match = _overlap_corr(ref_small, cur, mt.dx, mt.dy) if mt.shift > ALIGN_MAX_SHIFT else 0.0
    return RefCompare(shift=mt.shift, shift_response=mt.resp, unmatched=mt.unmatched, cover=cover, covered=covered,
                      exposed=exposed, informative=float(informative.sum() / mismatch.size),
                      rest_unmatched=rest_unmatched, level_corr=_level_corr(mc, mr), gains=gains,
                      shift_match=shift_match, aligned_by=mt.aligned_by)


def _overlap_corr(ref_small: np.ndarray, cur: np.ndarray, dx: float, dy: float) -> float:
    """Correlation of `cur` with the reference moved by (dx, dy), over the part they share (0 when
    that is under a quarter of the picture): a turn along the same scene keeps it high, a peak of
    the phase correlation between two different views does not."""
    h, w = cur.shape
    x, y = int(round(dx)), int(round(dy))
    # (a flat picture can give a shift of many picture widths: no overlap at all)
    if min(w - abs(x), h - abs(y)) <= 0 or (w - abs(x)) * (h - abs(y)) < 0.25 * w * h:
        return 0.0
    a = cur[max(0, y):h + min(0, y), max(0, x):w + min(0, x)]
    b = ref_small[max(0, -y):h + min(0, -y), max(0, -x):w + min(0, -x)]
    a, b = a - float(a.mean()), b - float(b.mean())
    den = float(np.sqrt(float((a * a).sum()) * float((b * b).sum())))
    return float((a * b).sum()) / den if den > 1e-6 else 0.0


def _level_corr(cur_levels: np.ndarray, ref_levels: np.ndarray) -> float:
    """Correlation of the block levels: a picture made very dark still has its view's light and
    shade, a black screen or a "no video" card does not."""
    a, b = cur_levels.ravel().astype(np.float64), ref_levels.ravel().astype(np.float64)
    if a.std() < 0.05 or b.std() < 1.0:
        return 0.0
    a, b = a - a.mean(), b - b.mean()  # (np.corrcoef costs several times this on 192 values)
    return float((a * b).sum() / np.sqrt(float((a * a).sum()) * float((b * b).sum())))


def _channel_gains(cur: np.ndarray, ref: np.ndarray, textured: np.ndarray) -> np.ndarray | None:
    """Overall change per colour channel (white balance, a cast): the ratio most well-lit blocks
    agree on, from blocks still `textured` now where there are enough of them (a cover is plain,
    and its blocks, all alike, would agree best with each other)."""
    cur_bgr = cur[..., :3] * (3.0 * cur[..., 3:4])
    ref_bgr = ref[..., :3] * (3.0 * ref[..., 3:4])
    lit = (cur_bgr.min(axis=2) > 12) & (cur_bgr.max(axis=2) < 235) & (ref_bgr.min(axis=2) > 12) & (ref_bgr.max(axis=2) < 235)
    if (lit & textured).sum() >= 8:
        lit &= textured
    if lit.sum() < 8:
        return None
    ratios = cur_bgr[lit] / ref_bgr[lit]
    # the colour change most blocks agree on: a large coloured cover would pull a plain median
    # (channel by channel: numpy reductions over a last axis of 3 are slow; a spread sample of
    # blocks as candidates is enough to find the mode)
    tint = np.log(ratios)
    tint = np.ascontiguousarray((tint - tint.mean(axis=1, keepdims=True)).T)
    candidates = tint[:, :: max(1, tint.shape[1] // GAIN_CANDIDATES)]
    agree = np.abs(candidates[0][:, None] - tint[0][None, :]) < GAIN_AGREE
    for k in (1, 2):
        agree &= np.abs(candidates[k][:, None] - tint[k][None, :]) < GAIN_AGREE
    best = agree[int(np.argmax(agree.sum(axis=1)))]
    agreed = ratios[best]
    return np.float32([median(agreed[:, k]) for k in range(3)])


def _cover_pixels(view: FrameView, ref: RefView, ref_color: tuple[np.ndarray, ...] | None, cur: np.ndarray,
                  ref_h: np.ndarray,
                  ref_levels: np.ndarray, cur_levels: np.ndarray, cur_chroma: np.ndarray, textured: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Per pixel of a half-size copy (float32 0/1): locally plain now, and off the overall tone or
    colour change from the reference; and that colour change (gains per channel, None when
    either picture is grey or too few blocks are usable).

    `ref_h` and `ref_color` are the aligned reference grey (smoothed) and colour planes
    (B, G, R) at half size; `ref_levels` and `cur_levels` the block levels (GRID) to fit the
    tone change on, NaN where a block is not to be used; `textured` the blocks with texture
    now. The overall colour change is a gain per channel; it changes each colour's grey level
    by its own factor (an orange cast brightens an orange wall more than a dark shelf), so the
    reference's grey level is taken through it first. The overall tone change is then a curve
    fitted robustly to block levels (clipped like a camera clips). Half size (160 px wide at
    most) is enough for covers, which are large and out of focus.
    """
    half = (ref_h.shape[1], ref_h.shape[0])
    cur_h = cv2.resize(cur, half, interpolation=cv2.INTER_AREA)
    gains = None
    if not ref.is_grey and not is_grey_picture(cur_chroma) and ref_color is not None:
        gains = _channel_gains(cur_chroma, ref.chroma, textured)
    if gains is not None:
        grey = sum(float(wk) * ek for wk, ek in zip(GREY_WEIGHTS, ref_color)) + 1.0
        through = sum(float(wk) * np.minimum(float(g) * ek, 255.0)  # each channel clips on its own
                      for wk, g, ek in zip(GREY_WEIGHTS, gains, ref_color)) + 1.0
        factor = through / grey
        ref_h = ref_h * factor
        ref_levels = ref_levels * cv2.resize(factor, GRID, interpolation=cv2.INTER_AREA)
    use = ~np.isnan(ref_levels)
    coef, typical = _robust_curve(ref_levels[use], cur_levels[use])
    c2, c1, c0 = (float(v) for v in coef)
    predicted = np.clip((c2 * ref_h + c1) * ref_h + c0, 0.0, 255.0)
    slope = 2.0 * c2 * median(ref_levels[use]) + c1
    changed = cv2.absdiff(cur_h, predicted) > max(LEVEL_TOL * min(1.0, max(slope, 0.25)), 4.0 * typical)
    if gains is not None:
        # per channel on contiguous planes: numpy reductions over a last axis of 3 are slow
        small = view.color_half
        if small.shape[:2] != half[::-1]:
            small = cv2.resize(view.color, half, interpolation=cv2.INTER_AREA)
        c = [small[..., k].astype(np.float32) for k in range(3)]
        e = [np.minimum(ek * float(g), 255.0) for ek, g in zip(ref_color, gains)]
        c_sum, e_sum = c[0] + c[1] + c[2], e[0] + e[1] + e[2]
        ic, ie = 1.0 / (c_sum + 1.0), 1.0 / (e_sum + 1.0)
        dist2 = sum((ck * ic - ek * ie) ** 2 for ck, ek in zip(c, e))
        level = np.minimum(c_sum, e_sum) * (1.0 / 3.0)
        # the chromaticity of dark pixels is noisy (coding noise over a small sum): allow for it
        tol = CHROMA_TOL + CHROMA_NOISE / np.maximum(level, 1.0)
        changed |= (level > 25) & (dist2 > tol * tol)
    mean = cv2.blur(cur_h, (3, 3))
    var = cv2.blur(cur_h * cur_h, (3, 3)) - mean * mean
    plain = var < PLAIN_PIXEL_STD**2
    return (changed & plain).astype(np.float32), gains


def largest_region(cover: np.ndarray) -> float:
    """Covered share of the whole view in the largest connected region of partly covered blocks.

    `cover` is per block 0..1 (or bool). Blocks at least REGION_SEED covered are joined,
    one-block gaps closed, and the region's blocks contribute their covered share: scattered
    leaves over many blocks add up to what they really hide.
    """
    cover = cover.astype(np.float32)
    seed = cover >= REGION_SEED
    if not seed.any():
        return 0.0
    closed = cv2.morphologyEx(seed.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    n_lab, labels = cv2.connectedComponents(closed, connectivity=8)
    if n_lab <= 1:
        return 0.0
    sums = np.bincount(labels.ravel(), weights=np.where(seed, cover, 0.0).ravel(), minlength=n_lab)[1:]
    return float(sums.max() / cover.size)


def _blocks(img: np.ndarray) -> np.ndarray:
    gw, gh = GRID
    h, w = img.shape
    bh, bw = h // gh, w // gw
    return img[: bh * gh, : bw * gw].reshape(gh, bh, gw, bw).transpose(0, 2, 1, 3).reshape(gh, gw, bh * bw)


def flat_region(view: FrameView) -> float:
    """No reference: share of blocks in the largest texture-less region touching the border."""
    g = view.grey.astype(np.float32)
    b = _blocks(g)
    std = b.std(axis=2)
    texture = median(std)
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
