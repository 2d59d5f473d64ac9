"""Stripes (interference bands): a strong isolated peak in the picture's 2-D spectrum.

Bands are a near-sinusoidal pattern across the whole frame, which puts a sharp peak well
above the smooth fall-off of a natural picture's spectrum. The measure is the height of the
largest peak over the median of its neighbourhood, in log units.
"""

from __future__ import annotations

import cv2
import numpy as np

from lookout.health.vqd.frames import FrameView

SIZE = 128
_WIN = np.outer(np.hanning(SIZE), np.hanning(SIZE)).astype(np.float32)
_yy, _xx = np.mgrid[0:SIZE, 0:SIZE]
_R = np.hypot(_yy - SIZE // 2, _xx - SIZE // 2)
_BAND = (_R >= 4) & (_R <= SIZE // 2 - 2)


def peak_prominence(view: FrameView) -> float:
    g = cv2.resize(view.grey, (SIZE, SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
    g = (g - float(g.mean())) * _WIN
    spec = cv2.dft(g, flags=cv2.DFT_COMPLEX_OUTPUT)
    mag = np.fft.fftshift(cv2.magnitude(spec[..., 0], spec[..., 1]))
    logm = cv2.log(mag + 1.0)
    background = cv2.medianBlur(logm, 5)
    bg2 = cv2.blur(logm, (9, 9))
    prom = logm - np.maximum(background, bg2)
    return float(prom[_BAND].max())
