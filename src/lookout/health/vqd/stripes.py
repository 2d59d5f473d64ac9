"""Stripes (interference bands): a strong isolated peak in the picture's 2-D spectrum.

Bands are a near-sinusoidal pattern across the whole frame, which puts a sharp peak well
above the smooth fall-off of a natural picture's spectrum. The measure is the height of the
largest peak over its neighbourhood (the larger of a 5×5 median and a 9×9 mean), in log
units, taken on the grey level and on the blue–red difference: interference often rides on
one colour channel only, where it is several times stronger than in the grey level.

Interference covers the whole picture evenly; a regular object (a chequered board, a fence,
a window front) covers part of it. For the strongest peak, the picture is demodulated at the
peak's frequency in 4×4 tiles: the *spread* is the median tile amplitude over the mean (about
1 for bands, well below for a pattern in a few tiles). Bands also repeat in one direction: a
chequered board, tiles or bricks have a second peak nearly as high in another direction. Both
are measured only for a peak high enough to matter. The frequencies of the coding block grids
(8 pixels; 16 in the colour, coded at half size) are not searched: heavy compression makes them
regular without any interference.

A regular scene (tiles, paving, windows, a chequered board) has such peaks of its own. With
the channel's reference picture only peaks that the reference does not have count: the
current spectrum must also stand out over the reference's at the same frequency (±1 bin;
the colour difference also over the reference's grey level, which a colour change mixes in),
after the overall change between the two at that radius (lighting, contrast, focus, noise
change the spectrum ring by ring, not at one frequency) is taken out.
That largest difference over all frequencies is high by the two spectra's noise alone, so it
must be high indeed; at the picture's own largest peak, one frequency, less is enough
(``own_over_ref``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from lookout.health.vqd.frames import FrameView, median

SIZE = 128
# the window times (-1)^(x+y), which centres the spectrum (no shift of the output needed)
_WIN = cv2.createHanningWindow((SIZE, SIZE), cv2.CV_32F) * np.where(
    (np.add.outer(np.arange(SIZE), np.arange(SIZE)) % 2) == 0, 1.0, -1.0).astype(np.float32)
_MIRROR_COLS = np.r_[0, SIZE - 1:0:-1]  # column of frequency -k for column k (centred)
_TOP = SIZE // 2 - 4  # the spectrum is point-symmetric: rows from the centre down, plus filter context
_yy, _xx = np.mgrid[_TOP:SIZE, 0:SIZE]
_R = np.hypot(_yy - SIZE // 2, _xx - SIZE // 2)
_BAND = (_R >= 4) & (_R <= SIZE // 2 - 2) & (_yy >= SIZE // 2)
_RING = np.minimum(np.round(_R / 2.0).astype(np.intp), SIZE // 4)  # rings 2 bins wide
_RING_FLAT = _RING[_BAND]
_RING_N = np.maximum(np.bincount(_RING_FLAT, minlength=SIZE // 4 + 1), 1).astype(np.float64)
_DILATE = np.ones((3, 3), np.uint8)
_GREY = np.float32([0.114, 0.587, 0.299])  # B, G, R weights of the grey level


@dataclass(frozen=True)
class RefSpectra:
    """The reference picture's log spectra (grey and colour difference), prepared once per channel."""

    dilated: tuple[np.ndarray, ...]  # per spectrum: log magnitude, 3×3 maximum
    rings: tuple[np.ndarray, ...]  # per spectrum: mean log magnitude per ring


SPREAD_TILES = 4  # tiles across and down for the spread of a peak
SPREAD_FROM = 1.0  # log units: peaks lower than this are not worth the spread's cost
_K = np.arange(SIZE)
NOT_MEASURED = -9.0  # log units: "no second peak" (far below any in a real spectrum; medians stay finite)


@dataclass(frozen=True)
class Peaks:
    """The strongest spectral peaks of a picture (log units) and how evenly each covers it."""

    own: float  # largest peak over its own neighbourhood
    own_spread: float  # 0..1; 1 (not measured, taken as even) when the peak is too low to matter
    own_second: float  # the largest peak in another direction, less `own` (≤ 0; NOT_MEASURED when not measured)
    new: float | None = None  # largest peak the reference does not have (None without a reference)
    new_spread: float | None = None
    new_second: float | None = None
    own_over_ref: float | None = None  # at the largest peak's frequency: how far it stands over the reference there


def _planes(view: FrameView) -> tuple[np.ndarray, np.ndarray]:
    """Grey level and blue–red difference of the SIZE×SIZE copy, each less its mean."""
    small = cv2.resize(view.color.astype(np.float32), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    b, g, r = cv2.split(small)
    grey = _GREY[0] * b + _GREY[1] * g + _GREY[2] * r
    diff = b - r
    return grey - float(grey.mean()), diff - float(diff.mean())


def spread(plane: np.ndarray, fy: int, fx: int) -> float:
    """How evenly the frequency (fy, fx) (cycles per SIZE) covers `plane`: median over mean of
    the demodulated amplitude in SPREAD_TILES² tiles (about 1 for bands across the picture).

    The carrier is separable, so the picture is demodulated along rows, summed per tile
    column, then along columns: no per-pixel phase is computed."""
    n, t = SPREAD_TILES, SIZE // SPREAD_TILES
    ex = np.exp(-2j * np.pi * fx * _K / SIZE)
    ey = np.exp(-2j * np.pi * fy * _K / SIZE)
    rows = (plane * ex).reshape(SIZE, n, t).sum(axis=2)
    amp = np.abs((rows * ey[:, None]).reshape(n, t, n).sum(axis=1))
    mean = float(amp.mean())
    return float(median(amp) / mean) if mean > 1e-6 else 0.0


_ANGLE = np.mod(np.arctan2(_yy - SIZE // 2, _xx - SIZE // 2), np.pi)  # direction of each frequency, 0..π
LATTICE_APART = np.deg2rad(20.0)  # a second direction at least this far from the peak's


@functools.lru_cache(maxsize=16)
def _searched(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Where peaks are looked for, for pictures of this native size, in the grey level and in
    the colour difference: the band, less the fundamentals of the coding block grids (on the
    axes, 3×3 bins), which low bit rates make regular without any interference: edges every 8
    pixels of a JPEG or H.264 picture, and in its colour, coded at half size, every 16."""
    c0, r0 = SIZE // 2, SIZE // 2 - _TOP  # column and row of frequency zero

    def folded(f: float) -> int:  # frequency after the copy to SIZE×SIZE (aliased above SIZE/2)
        return int(round(abs(f - SIZE * round(f / SIZE))))

    def without(keep: np.ndarray, block: int) -> np.ndarray:
        fx, fy = folded(width / block), folded(height / block)
        for r, c in ((r0, c0 + fx), (r0, c0 - fx), (r0 + fy, c0)):  # 3×3 bins around each
            keep[max(r - 1, 0):r + 2, max(c - 1, 0):c + 2] = False
        return keep

    grey = without(_BAND.copy(), 8)
    return grey, without(grey.copy(), 16)


def _peak_at(score: np.ndarray, searched: np.ndarray = _BAND) -> tuple[float, int, int]:
    """(highest value inside `searched`, its frequency row, its frequency column)."""
    masked = np.where(searched, score, -np.inf)
    i, j = np.unravel_index(int(np.argmax(masked)), masked.shape)
    return float(masked[i, j]), int(i) + _TOP - SIZE // 2, int(j) - SIZE // 2


def _other_direction(score: np.ndarray, fy: int, fx: int) -> float:
    """Highest value of `score` at frequencies whose direction is at least LATTICE_APART from
    (fy, fx): a pattern repeating in two directions (a chequered board, tiles, bricks) has a
    second peak nearly as high; bands have one direction."""
    d = np.abs(_ANGLE - np.mod(np.arctan2(fy, fx), np.pi))
    apart = _BAND & (np.minimum(d, np.pi - d) >= LATTICE_APART)
    return float(score[apart].max()) if apart.any() else -np.inf  # (a lone direction: no second peak)


def log_spectra(view: FrameView) -> list[np.ndarray]:
    """Log magnitude spectra (centred; the lower half-plane and a few rows above it) of the grey
    level and of the blue–red difference of the small copy, resized to SIZE×SIZE.

    Interference on the blue or red channel alone is faint in the grey level but plain in the
    colour difference; on green it is strong in the grey level. Both real pictures go through
    one complex DFT (grey + i·difference) and are separated by the spectrum's symmetry.
    """
    return _log_spectra(*_planes(view))


def _log_spectra(grey: np.ndarray, diff: np.ndarray) -> list[np.ndarray]:
    z = cv2.merge([grey * _WIN, diff * _WIN])
    x = cv2.dft(z, flags=cv2.DFT_COMPLEX_OUTPUT)  # centred: row/column SIZE/2 is frequency 0
    xl = x[_TOP:]
    xm = x[SIZE - _TOP:0:-1][:, _MIRROR_COLS]  # X(-k) for the same rows
    re, im, re_m, im_m = xl[..., 0], xl[..., 1], xm[..., 0], xm[..., 1]
    out = []
    for a, c in ((re + re_m, im - im_m), (re - re_m, im + im_m)):  # 2·G(k) and 2i·D(k), by symmetry
        out.append(cv2.log(cv2.magnitude(a, c) * 0.5 + 1.0))
    return out


def _ring_means(logm: np.ndarray) -> np.ndarray:
    return np.bincount(_RING_FLAT, weights=logm[_BAND].astype(np.float64), minlength=_RING_N.size) / _RING_N


def reference_spectra(view: FrameView) -> RefSpectra:
    spectra = log_spectra(view)
    return RefSpectra(dilated=tuple(cv2.dilate(s, _DILATE) for s in spectra),
                      rings=tuple(_ring_means(s) for s in spectra))


def peaks(view: FrameView, ref: RefSpectra | None = None, own_from: float = SPREAD_FROM,
          new_from: float = SPREAD_FROM) -> Peaks:
    """The largest peak over its own neighbourhood and, with a reference, the largest such peak
    the reference does not have; each from the grey level or the colour difference, whichever
    is higher, with its spread over the picture and the next peak in another direction.

    Spread and direction are measured only for a peak at least `own_from` (`new_from`) high:
    below that its height alone rules bands out (the callers pass the zero of their ramps)."""
    planes = _planes(view)
    searched = _searched(*view.native_size)
    own = new = (-np.inf, 0, 0, 0, None)  # value, spectrum, frequency row and column, score map
    over_refs = []
    for i, logm in enumerate(_log_spectra(*planes)):
        prom = logm - np.maximum(cv2.medianBlur(logm, 5), cv2.blur(logm, (9, 9)))
        v, fy, fx = _peak_at(prom, searched[i])
        if v > own[0]:
            own = (v, i, fy, fx, prom)
        if ref is not None:
            # the colour difference also against the reference's grey level: a colour change (a cast,
            # white balance) mixes the grey level's structure into the colour difference
            rings = _ring_means(logm)
            over_ref = prom
            for j in range(i + 1):
                offset = (rings - ref.rings[j]).astype(np.float32)[_RING]
                over_ref = np.minimum(over_ref, logm - (ref.dilated[j] + offset))
            over_refs.append(over_ref)
            v, fy, fx = _peak_at(over_ref, searched[i])
            if v > new[0]:
                new = (v, i, fy, fx, over_ref)

    def judged(p: tuple, floor: float) -> tuple[float, float]:  # (spread, next direction less the peak)
        if p[0] < floor or p[4] is None:
            return 1.0, NOT_MEASURED
        return spread(planes[p[1]], p[2], p[3]), max(_other_direction(p[4], p[2], p[3]) - p[0], NOT_MEASURED)

    own_spread, own_second = judged(own, own_from)
    if ref is None:
        return Peaks(own=own[0], own_spread=own_spread, own_second=own_second)
    new_spread, new_second = judged(new, new_from)
    at_own = float(over_refs[own[1]][own[2] + SIZE // 2 - _TOP, own[3] + SIZE // 2])
    return Peaks(own=own[0], own_spread=own_spread, own_second=own_second, new=new[0], new_spread=new_spread,
                 new_second=new_second, own_over_ref=at_own)


def peak_prominence(view: FrameView) -> float:
    """The largest spectral peak over its own neighbourhood, grey or colour difference, log units."""
    return peaks(view).own
