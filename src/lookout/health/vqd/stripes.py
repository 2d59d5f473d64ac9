"""Stripes (interference bands): a strong isolated peak in the picture's 2-D spectrum.

Bands are a near-sinusoidal pattern across the whole frame, which puts a sharp peak well
above the smooth fall-off of a natural picture's spectrum. The measure is the height of the
largest peak over its neighbourhood (the larger of a 5×5 median and a 9×9 mean), in log
units, taken per colour channel: interference often rides on one channel only, where it is
several times stronger than in the grey levels.

A regular scene (tiles, paving, windows, a chequered board) has such peaks of its own. With
the channel's reference picture only peaks that the reference does not have count: the
current spectrum must also stand out over the reference's at the same frequency (±1 bin),
after the overall change between the two spectra at that radius (lighting, contrast, focus,
noise change the spectrum ring by ring, not at one frequency) is taken out.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lookout.health.vqd.frames import FrameView

SIZE = 128
_WIN = cv2.createHanningWindow((SIZE, SIZE), cv2.CV_32F)
_yy, _xx = np.mgrid[0:SIZE, 0:SIZE]
_R = np.hypot(_yy - SIZE // 2, _xx - SIZE // 2)
_BAND = (_R >= 4) & (_R <= SIZE // 2 - 2)
_RING = np.minimum(np.round(_R / 2.0).astype(np.intp), SIZE // 4)  # rings 2 bins wide
_RING_N = np.bincount(_RING.ravel()).astype(np.float64)
_DILATE = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class RefSpectra:
    """The reference picture's per-channel log spectra, prepared once per channel."""

    dilated: tuple[np.ndarray, ...]  # per channel: log spectrum, 3×3 maximum
    rings: tuple[np.ndarray, ...]  # per channel: mean log spectrum per ring


def log_spectra(view: FrameView) -> list[np.ndarray]:
    """Log magnitude spectrum (centred, SIZE×SIZE) of each colour channel (B, G, R) of the small copy."""
    small = cv2.resize(view.color, (SIZE, SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
    out = []
    for ch in cv2.split(small):
        g = (ch - float(ch.mean())) * _WIN
        spec = cv2.dft(g, flags=cv2.DFT_COMPLEX_OUTPUT)
        mag = np.fft.fftshift(cv2.magnitude(spec[..., 0], spec[..., 1]))
        out.append(cv2.log(mag + 1.0))
    return out


def _ring_means(logm: np.ndarray) -> np.ndarray:
    return np.bincount(_RING.ravel(), weights=logm.ravel().astype(np.float64)) / _RING_N


def reference_spectra(view: FrameView) -> RefSpectra:
    spectra = log_spectra(view)
    return RefSpectra(dilated=tuple(cv2.dilate(s, _DILATE) for s in spectra),
                      rings=tuple(_ring_means(s) for s in spectra))


def peak_prominences(view: FrameView, ref: RefSpectra | None = None) -> tuple[float, float | None]:
    """(largest peak over its own neighbourhood, largest such peak the reference does not have).

    The second is None without a reference. Both in log units, the largest over the channels.
    """
    own = new = -np.inf
    for i, logm in enumerate(log_spectra(view)):
        prom = logm - np.maximum(cv2.medianBlur(logm, 5), cv2.blur(logm, (9, 9)))
        own = max(own, float(prom[_BAND].max()))
        if ref is not None:
            offset = (_ring_means(logm) - ref.rings[i]).astype(np.float32)[_RING]
            over_ref = logm - (ref.dilated[i] + offset)
            new = max(new, float(np.minimum(prom, over_ref)[_BAND].max()))
    return own, (new if ref is not None else None)


def peak_prominence(view: FrameView) -> float:
    """The largest spectral peak over its own neighbourhood, any channel, log units."""
    return peak_prominences(view)[0]
