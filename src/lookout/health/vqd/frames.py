"""Working copies of a frame for the diagnoses: small colour and grey, a mid-size grey, native crops.

Every diagnosis works on these copies, never on the full frame, so the whole suite costs
about the same at 720p and 1080p. The copies are made once per frame: the full frame is
reduced to at most MID_WIDTH (one area resize, the fast 2:1 or 3:1 path at 720p and 1080p),
then to SMALL_WIDTH; grey copies come from the reduced colour ones.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np

SMALL_WIDTH = 320
MID_WIDTH = 640
CROP = 128  # native-resolution crops for the noise estimate


class BadFrame(ValueError):
    """A frame that cannot be diagnosed (wrong type, shape or size)."""


@dataclass(frozen=True)
class FrameView:
    color: np.ndarray  # BGR uint8, SMALL_WIDTH wide
    grey: np.ndarray  # uint8, same size as color
    mid: np.ndarray  # grey uint8, at most MID_WIDTH wide
    crops: np.ndarray  # grey uint8 crops at native resolution, stacked side by side
    native_size: tuple[int, int]  # (width, height)

    @functools.cached_property
    def color_half(self) -> np.ndarray:
        """The small colour copy at half size (BGR uint8), made once when first needed."""
        h, w = self.color.shape[:2]
        return cv2.resize(self.color, (max(8, w // 2), max(8, h // 2)), interpolation=cv2.INTER_AREA)


_threads_lock = threading.Lock()
_threads_users = 0
_threads_before = 0


@contextmanager
def single_thread() -> Iterator[None]:
    """Run OpenCV calls on the calling thread only, restoring the previous setting afterwards.

    The diagnosis works on pictures of at most 640×360, where OpenCV's worker threads cost
    more than they save; on a busy machine every parallel call also waits for a worker to be
    scheduled, which made single measures many times slower than their arithmetic. Nested
    and concurrent uses (a patrol diagnosing channels from several threads) are counted: the
    setting changes only when the first one enters and the last one leaves.
    """
    global _threads_users, _threads_before
    with _threads_lock:
        if _threads_users == 0:
            _threads_before = cv2.getNumThreads()
            if _threads_before != 1:
                cv2.setNumThreads(1)
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0 and _threads_before != 1:
                cv2.setNumThreads(_threads_before)


def _resize(img: np.ndarray, width: int) -> np.ndarray:
    """Reduce to `width` (keeping the aspect): halve by area averaging while at least twice too
    wide (OpenCV's fast path), then one last step — by area for small pictures, bilinear for
    large ones, where a fractional area resize costs several milliseconds (1080p → 640)."""
    h, w = img.shape[:2]
    if w <= width:
        return img
    while w >= 2 * width:
        img = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        h, w = img.shape[:2]
    if w == width:
        return img
    small = w * h <= 640 * 480
    return cv2.resize(img, (width, max(8, round(h * width / w))),
                      interpolation=cv2.INTER_AREA if small else cv2.INTER_LINEAR)


def check_frame(frame: object) -> np.ndarray:
    if not isinstance(frame, np.ndarray):
        raise BadFrame(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise BadFrame(f"frame must be uint8, got {frame.dtype}")
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif frame.ndim == 3 and frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    elif not (frame.ndim == 3 and frame.shape[2] == 3):
        raise BadFrame(f"frame must be H×W, H×W×3 (BGR) or H×W×4, got shape {frame.shape}")
    if frame.shape[0] < 32 or frame.shape[1] < 32:
        raise BadFrame(f"frame too small to diagnose: {frame.shape[1]}×{frame.shape[0]} (need ≥ 32×32)")
    return frame


def native_crops(frame: np.ndarray) -> np.ndarray:
    """Three CROP×CROP grey crops across the middle band of the frame, at native resolution."""
    h, w = frame.shape[:2]
    c = min(CROP, h, w // 3)
    y0 = (h - c) // 2
    xs = [w // 6 - c // 2, w // 2 - c // 2, 5 * w // 6 - c // 2]
    parts = [frame[y0:y0 + c, max(0, x):max(0, x) + c] for x in xs]
    return cv2.cvtColor(np.hstack(parts), cv2.COLOR_BGR2GRAY)


def prepare(frame: np.ndarray) -> FrameView:
    frame = check_frame(frame)
    h, w = frame.shape[:2]
    mid_c = _resize(frame, MID_WIDTH)
    small = _resize(mid_c, SMALL_WIDTH)
    return FrameView(
        color=small,
        grey=cv2.cvtColor(small, cv2.COLOR_BGR2GRAY),
        mid=cv2.cvtColor(mid_c, cv2.COLOR_BGR2GRAY),
        crops=native_crops(frame),
        native_size=(w, h),
    )


def ramp(x: float, zero: float, full: float) -> float:
    """Score 0..100 rising linearly from `zero` (score 0) to `full` (score 100); either direction."""
    if full == zero:
        return 100.0 if x >= full else 0.0
    t = (x - zero) / (full - zero)
    return float(100.0 * min(1.0, max(0.0, t)))


def block_means(img: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Mean of each block of a (cols, rows) grid; the picture is cropped to a whole number of blocks."""
    gw, gh = grid
    h, w = img.shape[:2]
    bh, bw = h // gh, w // gw
    return cv2.resize(img[: bh * gh, : bw * gw], (gw, gh), interpolation=cv2.INTER_AREA)


def block_sums(img: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Sum of each block of a (cols, rows) grid of a one-channel picture, as float64, via the integral image.

    uint8 pictures are summed in 32-bit integers (exact up to 8 million pixels). Exact for uint8 input (no rounding to the input type, unlike an area resize), and the
    cheapest way to get block statistics of uint8 pictures.
    """
    gw, gh = grid
    h, w = img.shape[:2]
    bh, bw = h // gh, w // gw
    ii = cv2.integral(img, sdepth=cv2.CV_32S if img.dtype == np.uint8 else cv2.CV_64F)
    ys = np.arange(gh + 1) * bh
    xs = np.arange(gw + 1) * bw
    c = ii[np.ix_(ys, xs)].astype(np.float64)
    return c[1:, 1:] - c[:-1, 1:] - c[1:, :-1] + c[:-1, :-1]


def quantile(values: np.ndarray | list[float], q: float) -> float:
    """The q-quantile (0..1) of the values with linear interpolation, like ``np.quantile``.

    Through ``np.partition``: numpy's median and percentile cost tens of microseconds per
    call in bookkeeping, which the dozen calls per frame on arrays of a few hundred values
    turned into a noticeable share of the diagnosis.
    """
    a = np.asarray(values, dtype=np.float64).ravel()
    n = a.size
    if n == 0:
        raise ValueError("quantile of no values")
    pos = q * (n - 1)
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    part = np.partition(a, (lo, hi)) if hi != lo else np.partition(a, lo)
    return float(part[lo] + (part[hi] - part[lo]) * (pos - lo))


def median(values: np.ndarray | list[float]) -> float:
    return quantile(values, 0.5)
