"""Blur (defocus): the blur effect of Crété-Roffet et al. (2007), per block.

Blurring a sharp picture removes much of its neighbour-to-neighbour variation; blurring an
already blurred one removes little. The ratio is 0 (sharp) … 1 (blurred), and does not
depend on contrast or brightness.

Without a reference a scene may be mostly sky or wall, but a focused camera still has sharp
edges somewhere: the measure is a low percentile of the per-block blur effect over the
better-textured half of the blocks (on a coarser grid).

With a reference the measure is the rise of the blur effect over the reference's, block by
block, in the blocks that are textured in the reference and not covered now, and its median
over those blocks: a defocus raises it everywhere; people walking, a cover, or a different
moment's detail change only some blocks.

Against a reference with too few detailed blocks (a pale wall with one object in it), focus is
judged on its steepest edges instead (``edge_softening``): at the reference's steepest edge
pixels, the gradient over the local contrast, now against then (aligned for vibration). A
defocus widens an edge and lowers it; exposure, coding and a little noise do not.

With a reference, pixel-scale noise is smoothed away first on both (a 3×3 box), so a noisy
grey-scale night picture does not look sharp; a grey-scale picture is compared at half the
mid size, where the softness of infrared night pictures fades and a defocus still shows;
a colour picture whose fine detail fell is blurred only if it is softer there too (coding loss,
a low JPEG quality or a starved bitrate, takes a smooth view's finest texture and nothing more). All arithmetic is on uint8 pictures with saturating subtraction and block sums from the
integral image: no float copies of the picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lookout.health.vqd.frames import FrameView, block_sums, median, quantile

GRID = (16, 12)  # the same grid as the reference comparison, so masks can be shared
PERCENTILE = 20
MIN_DETAIL = 1.5  # grey levels per pixel, both directions together
MIN_DETAIL_BLOCKS = 8  # fewer detailed blocks in the reference: focus cannot be judged against it
_TAPS = 9
EDGE_MIN_CONTRAST = 20.0  # grey levels across an edge (over 15×15 pixels of the mid-size copy)
EDGE_SHARE = 0.02  # the steepest share of the pixels with that contrast are the edges judged
MIN_EDGE_PIXELS = 60  # fewer: no edge long enough to judge focus by (about a tenth of the width)


@dataclass(frozen=True)
class BlurBlocks:
    variation: np.ndarray  # per block: sum of neighbour differences (both directions)
    removed: np.ndarray  # per block: how much of it a further blur removes
    area: float = 1.0  # pixels per block

    @property
    def effect(self) -> np.ndarray:
        """Per-block blur effect 0 (sharp) … 1 (blurred)."""
        return 1.0 - self.removed / (self.variation + 1e-6)


def coarse_blur_blocks(view: FrameView) -> BlurBlocks:
    """``blur_blocks`` (denoised) of the mid-size grey copy reduced to half size.

    For grey-scale pictures (infrared night pictures, black-and-white cameras): their softness
    at the pixel scale (a focus shift under infrared, noise reduction) fades at half size,
    while a defocus, which spreads over several pixels, still shows.
    """
    h, w = view.mid.shape
    half = cv2.resize(view.mid, (max(16, w // 2), max(12, h // 2)), interpolation=cv2.INTER_AREA)
    return _blur_blocks(half, denoise=True)


def blur_blocks(view: FrameView, denoise: bool = False) -> BlurBlocks:
    """Per-block neighbour variation and what a further blur removes of it.

    `denoise` smooths with a 3×3 box first: sensor and coding noise at the pixel scale (grey
    night pictures) would otherwise pass for fine detail and hide a defocus, which spreads
    over several pixels. Used for the comparison with a reference (both sides alike); the
    no-reference percentile is calibrated on the plain picture.
    """
    return _blur_blocks(view.mid, denoise)


def _blur_blocks(grey: np.ndarray, denoise: bool) -> BlurBlocks:
    f = cv2.blur(grey, (3, 3)) if denoise else grey
    var = rem = None
    for horizontal in (True, False):
        if horizontal:
            b = cv2.blur(f, (_TAPS, 1))
            d_f = cv2.absdiff(f[:, 1:], f[:, :-1])
            d_b = cv2.absdiff(b[:, 1:], b[:, :-1])
        else:
            b = cv2.blur(f, (1, _TAPS))
            d_f = cv2.absdiff(f[1:, :], f[:-1, :])
            d_b = cv2.absdiff(b[1:, :], b[:-1, :])
        d_v = cv2.subtract(d_f, d_b)  # uint8: saturates at 0, i.e. max(d_f - d_b, 0)
        sf, sv = block_sums(d_f, GRID), block_sums(d_v, GRID)
        var = sf if var is None else var + sf
        rem = sv if rem is None else rem + sv
    return BlurBlocks(variation=var, removed=rem, area=grey.size / (GRID[0] * GRID[1]))


def _coarse(a: np.ndarray) -> np.ndarray:
    gh, gw = a.shape
    return a[: gh // 2 * 2, : gw // 2 * 2].reshape(gh // 2, 2, gw // 2, 2).sum(axis=(1, 3))


def blur_effect(view: FrameView, blocks: BlurBlocks | None = None) -> float:
    """No reference: low percentile of the blur effect over the better-textured half (8×6 blocks)."""
    bb = blocks or blur_blocks(view)
    var, rem = _coarse(bb.variation), _coarse(bb.removed)
    if float(var.max()) <= 1e-6:
        return 1.0
    per_block = 1.0 - rem / (var + 1e-6)
    textured = var >= median(var)
    return quantile(per_block[textured], PERCENTILE / 100.0)


def detailed_blocks(ref: BlurBlocks) -> np.ndarray:
    """The reference's blocks that tell focus: the better-textured half, with real detail.

    A block with less detail than MIN_DETAIL (sum of both neighbour differences per pixel) says
    nothing about focus: in a fog, a dusk sky or calm water the "blur" of its faint texture is noise.
    """
    return (ref.variation >= median(ref.variation)) & (ref.variation > MIN_DETAIL * ref.area)


def focus_judged(ref: BlurBlocks) -> bool:
    """Whether focus can be judged against this reference (a pale wall filling the view: not)."""
    return int(detailed_blocks(ref).sum()) >= MIN_DETAIL_BLOCKS


def blur_rise(cur: BlurBlocks, ref: BlurBlocks, usable: np.ndarray | None = None) -> float:
    """Median rise of the per-block blur effect over the reference's, in reference-textured blocks.

    `usable` (same grid) leaves out blocks known to be covered or badly exposed now.
    """
    if cur.variation.shape != ref.variation.shape:
        raise ValueError("reference and current blur blocks differ in grid")
    textured = detailed_blocks(ref)
    if int(textured.sum()) < MIN_DETAIL_BLOCKS:  # not focus_judged
        return 0.0
    sel = textured if usable is None else textured & usable
    if int(sel.sum()) < 6:
        sel = textured
    if not sel.any():
        return 0.0
    return median(cur.effect[sel] - ref.effect[sel])


@dataclass(frozen=True)
class EdgeProfile:
    """The reference's steepest edge pixels (mid-size coordinates) and their median steepness."""

    ys: np.ndarray
    xs: np.ndarray
    steepness: float
    shape: tuple[int, int]  # of the mid-size copy they were found in


def _steepness(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient (grey levels per pixel, after a 3×3 box against noise) and local contrast (15×15 range)."""
    g = cv2.blur(grey, (3, 3)).astype(np.float32)
    mag = cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)) / 8.0
    k = np.ones((15, 15), np.uint8)
    return mag, cv2.dilate(g, k) - cv2.erode(g, k)


def edge_profile(view: FrameView) -> EdgeProfile | None:
    """The reference's steepest edges; None when it has too few to judge focus by."""
    mag, contrast = _steepness(view.mid)
    strong = contrast >= EDGE_MIN_CONTRAST
    if int(strong.sum()) < MIN_EDGE_PIXELS:
        return None
    ys, xs = np.nonzero(strong & (mag >= np.quantile(mag[strong], 1.0 - EDGE_SHARE)))
    if len(ys) < MIN_EDGE_PIXELS:
        return None
    return EdgeProfile(ys=ys, xs=xs, steepness=median(mag[ys, xs] / contrast[ys, xs]), shape=mag.shape)


def edge_softening(view: FrameView, edges: EdgeProfile, dx: float = 0.0, dy: float = 0.0) -> float | None:
    """How much flatter the reference's steepest edges are now: 0 as sharp (or sharper), 1 gone;
    None when the picture's shape differs from the reference's.

    (dx, dy) is the picture's shift from the reference in mid-size pixels (vibration); each edge
    pixel is looked for within 2 pixels of where it moved.
    """
    if view.mid.shape != edges.shape:
        return None
    mag, contrast = _steepness(view.mid)
    k = np.ones((5, 5), np.uint8)
    mag, contrast = cv2.dilate(mag, k), cv2.dilate(contrast, k)
    h, w = mag.shape
    yy = np.clip(np.rint(edges.ys + dy).astype(np.intp), 0, h - 1)
    xx = np.clip(np.rint(edges.xs + dx).astype(np.intp), 0, w - 1)
    now = median(mag[yy, xx] / np.maximum(contrast[yy, xx], 1.0))
    return float(np.clip(1.0 - now / max(edges.steepness, 1e-6), 0.0, 1.0))
