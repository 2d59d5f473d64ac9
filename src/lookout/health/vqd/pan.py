"""A moving view: the whole picture travelling one way through a clip (a PTZ camera turning).

Measured as the global shift between neighbouring frames (phase correlation, as for vibration
against the reference): each pair's movement along the clip's overall direction, as a share of
the picture width, and the median of that over the pairs. A pair whose shift is not well
defined (low phase-correlation response) counts as no movement. People walking through a still
view leave the background where it is, so the shift stays near zero; a shaking camera moves
back and forth, so its pairs cancel out along the overall direction.

Without a reference picture, a moving view has no composition to judge: the flat border region
read as a cover, the colour balance of a close-up read as a cast and a texture's spectral peak
read as bands all belong to a view that is passing. Those judgements wait for a still view
(``suite.decide``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lookout.health.vqd.frames import FrameView
from lookout.health.vqd.reference import global_shift

MIN_RESPONSE = 0.1  # phase-correlation response below which a pair's shift is not trusted


def pan_rate(views: Sequence[FrameView]) -> float:
    """Median movement per neighbouring pair along the clip's direction, share of the width (0 for a still)."""
    greys = [v.grey.astype(np.float32) for v in views]
    if len(greys) < 2 or any(g.shape != greys[0].shape for g in greys):
        return 0.0
    shifts = []
    for a, b in zip(greys, greys[1:]):
        (dx, dy), resp = global_shift(a, b)
        shifts.append((dx, dy) if resp >= MIN_RESPONSE else (0.0, 0.0))
    s = np.asarray(shifts, dtype=np.float64)
    total = s.sum(axis=0)
    norm = float(np.hypot(*total))
    if norm == 0.0:
        return 0.0
    along = s @ (total / norm)
    return max(0.0, float(np.median(along))) / greys[0].shape[1]
