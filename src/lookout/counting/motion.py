"""Motion gating: where in the frame something moved (background subtraction on a small
grey copy of the frame). The pipeline runs the detector only on windows with motion, and
re-uses a window's last boxes otherwise (still people stay counted), refreshing every
window at least every ``refresh_seconds``.
"""

from __future__ import annotations

import cv2
import numpy as np


class MotionGate:
    def __init__(self, width: int = 160, threshold: float = 0.002, history: int = 200, var_threshold: float = 25.0,
                 warmup_frames: int = 5) -> None:
        self.width = width
        self.threshold = threshold  # moving share of a window's pixels that counts as motion
        self.bg = cv2.createBackgroundSubtractorMOG2(history=history, varThreshold=var_threshold, detectShadows=False)
        self.kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self.frames = 0
        self.warmup_frames = warmup_frames
        self.mask: np.ndarray | None = None
        self.scale = 1.0

    def update(self, frame: np.ndarray) -> np.ndarray:
        """Feed a BGR frame; returns the motion mask (small, uint8 0/255)."""
        h, w = frame.shape[:2]
        self.scale = self.width / w
        small = cv2.resize(frame, (self.width, max(1, round(h * self.scale))), interpolation=cv2.INTER_AREA)
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        mask = self.bg.apply(grey)
        self.mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self.kernel)
        self.frames += 1
        return self.mask

    def moving(self, window: tuple[int, int, int, int] | None = None) -> bool:
        """Whether the last frame had motion in ``window`` (full-frame pixels); always True
        while the background model warms up."""
        if self.mask is None or self.frames <= self.warmup_frames:
            return True
        m = self.mask
        if window is not None:
            x1, y1, x2, y2 = (int(round(v * self.scale)) for v in window)
            m = m[max(0, y1):max(y1 + 1, y2), max(0, x1):max(x1 + 1, x2)]
        if m.size == 0:
            return False
        return float(np.count_nonzero(m)) / m.size >= self.threshold
