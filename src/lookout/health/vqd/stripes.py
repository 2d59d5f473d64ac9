"""Stripes (interference bands): a strong isolated peak in the picture's 2-D spectrum.

Bands are a near-sinusoidal pattern across the whole frame, which puts a sharp peak well
above the smooth fall-off of a natural picture's spectrum. The measure is the height of the
largest peak over its neighbourhood (the larger of a 5×5 median and a 9×9 mean), in log
units, taken on the grey level and on the blue–red difference: interference often rides on
one colour channel only, where it is several times stronger than in the grey level.

A regular scene (tiles, paving, windows, a chequered board) has such peaks of its own. With
the channel's reference picture only peaks that the reference does not have count: the
current spectrum must also stand out over the reference's at the same frequency (±1 bin;
the colour difference also over the reference's grey level, which a colour change mixes in), after the overall change between the two at that radius (lighting,
contrast, focus, noise change the spectrum ring by ring, not at one frequency) is taken out.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lookout.health.vqd.frames import FrameView

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


def log_spectra(view: FrameView) -> list[np.ndarray]:
    """Log magnitude spectra (centred; the lower half-plane and a few rows above it) of the grey
    level and of the blue–red difference of the small copy, resized to SIZE×SIZE.

    Interference on the blue or red channel alone is faint in the grey level but plain in the
    colour difference; on green it is strong in the grey level. Both real pictures go through
    one complex DFT (grey + i·difference) and are separated by the spectrum's symmetry.
    """
    small = cv2.resize(view.color.astype(np.float32), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    b, g, r = cv2.split(small)
    grey = _GREY[0] * b + _GREY[1] * g + _GREY[2] * r
    diff = b - r
    z = cv2.merge([(grey - float(grey.mean())) * _WIN, (diff - float(diff.mean())) * _WIN])
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


def peak_prominences(view: FrameView, ref: RefSpectra | None = None) -> tuple[float, float | None]:
    """(largest peak over its own neighbourhood, largest such peak the reference does not have).

    The second is None without a reference. Both in log units, the larger of the two spectra.
    """
    own = new = -np.inf
    for i, logm in enumerate(log_spectra(view)):
        prom = logm - np.maximum(cv2.medianBlur(logm, 5), cv2.blur(logm, (9, 9)))
        own = max(own, float(prom[_BAND].max()))
        if ref is not None:
            # the colour difference also against the reference's grey level: a colour change (a cast,
            # white balance) mixes the grey level's structure into the colour difference
            rings = _ring_means(logm)
            over_ref = prom
            for j in range(i + 1):
                offset = (rings - ref.rings[j]).astype(np.float32)[_RING]
                over_ref = np.minimum(over_ref, logm - (ref.dilated[j] + offset))
            new = max(new, float(over_ref[_BAND].max()))
    return own, (new if ref is not None else None)


def peak_prominence(view: FrameView) -> float:
    """The largest spectral peak over its own neighbourhood, grey or colour difference, log units."""
    return peak_prominences(view)[0]
