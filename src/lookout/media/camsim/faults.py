"""Picture faults of the camera simulator: pure functions on RGB frames (numpy only).

This module is imported by the RTSP server process (Debian's Python with GStreamer) as
well as by the project's own code, so it depends on numpy and the standard library only.
Each fault takes an ``(H, W, 3)`` uint8 RGB frame and a frame counter and returns a new
frame of the same shape. ``offline`` and ``freeze`` are handled by the server (they change
what is sent, not how a frame looks), so they are not in :data:`PICTURE_FAULTS`.
"""

from __future__ import annotations

import numpy as np

#: Every fault kind the simulator accepts; ``clear`` removes the current fault.
KINDS = (
    "offline",
    "freeze",
    "black",
    "blur",
    "occlusion",
    "noise",
    "color_cast",
    "stripes",
    "dark",
    "bright",
    "turned",
    "clear",
)


def _black(frame: np.ndarray, n: int) -> np.ndarray:
    return np.zeros_like(frame)


def _box_blur_axis(img: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Mean over a window of 2*radius+1 along one axis (edges replicated)."""
    pad = [(0, 0)] * img.ndim
    pad[axis] = (radius + 1, radius)
    c = np.cumsum(np.pad(img, pad, mode="edge"), axis=axis, dtype=np.float32)
    size = 2 * radius + 1
    if axis == 0:
        return (c[size:] - c[:-size]) / size
    return (c[:, size:] - c[:, :-size]) / size


def _upsample_axis(img: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Linear interpolation of ``img`` to ``size`` samples along ``axis``."""
    m = img.shape[axis]
    pos = (np.arange(size, dtype=np.float32) + 0.5) * (m / size) - 0.5
    pos = np.clip(pos, 0, m - 1)
    i0 = np.floor(pos).astype(np.int32)
    i1 = np.minimum(i0 + 1, m - 1)
    a = pos - i0
    shape = [1] * img.ndim
    shape[axis] = size
    a = a.reshape(shape)
    return np.take(img, i0, axis=axis) * (1 - a) + np.take(img, i1, axis=axis) * a


def _blur(frame: np.ndarray, n: int) -> np.ndarray:
    """Out of focus: averaged at an eighth of the size, smoothed and enlarged again."""
    h, w = frame.shape[:2]
    f = 8
    hh, ww = max(f, h // f * f), max(f, w // f * f)
    if h < f or w < f:
        return frame.copy()
    small = frame[:hh, :ww].reshape(hh // f, f, ww // f, f, 3).mean(axis=(1, 3), dtype=np.float32)
    small = _box_blur_axis(_box_blur_axis(small, 1, 0), 1, 1)
    big = _upsample_axis(_upsample_axis(small, h, 0), w, 1)
    return np.clip(big, 0, 255).astype(np.uint8)


def _occlusion(frame: np.ndarray, n: int) -> np.ndarray:
    """A dark grey object (a leaf, a hand, a sign) covering the central 60 % of the view."""
    out = frame.copy()
    h, w = frame.shape[:2]
    out[int(h * 0.2) : int(h * 0.8), int(w * 0.2) : int(w * 0.8)] = (40, 38, 35)
    return out


_NOISE_BANK: dict = {}


def _noise(frame: np.ndarray, n: int) -> np.ndarray:
    """Snow: strong noise, different in every frame (drawn from a bank of noise fields)."""
    h, w = frame.shape[:2]
    bank = _NOISE_BANK.get((h, w))
    if bank is None:
        rng = np.random.default_rng(7)
        bank = np.clip(rng.normal(0.0, 45.0, size=(4, h, w, 1)), -127, 127).astype(np.int16)
        _NOISE_BANK.clear()
        _NOISE_BANK[(h, w)] = bank
    noise = np.roll(bank[n % 4], (n * 37) % h, axis=0)
    return np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def _color_cast(frame: np.ndarray, n: int) -> np.ndarray:
    """A strong green-magenta shift: red and blue weakened, green raised."""
    img = frame.astype(np.float32)
    img[..., 0] *= 0.45
    img[..., 1] = img[..., 1] * 0.8 + 80.0
    img[..., 2] *= 0.45
    return np.clip(img, 0, 255).astype(np.uint8)


def _stripes(frame: np.ndarray, n: int) -> np.ndarray:
    """Interference: bright horizontal bands that roll down the picture."""
    out = frame.copy()
    h = frame.shape[0]
    period = max(8, h // 12)
    rows = (np.arange(h) + 3 * n) % period < period // 3
    band = out[rows].astype(np.int16) + 90
    out[rows] = np.clip(band, 0, 255).astype(np.uint8)
    return out


def _dark(frame: np.ndarray, n: int) -> np.ndarray:
    return (frame.astype(np.float32) * 0.18).astype(np.uint8)


def _bright(frame: np.ndarray, n: int) -> np.ndarray:
    return np.clip(frame.astype(np.float32) * 0.4 + 190.0, 0, 255).astype(np.uint8)


def _turned(frame: np.ndarray, n: int) -> np.ndarray:
    """The camera turned away: a mirrored, 2x enlarged corner of the old view."""
    h, w = frame.shape[:2]
    rows = (np.arange(h) // 2 + h // 2) % h
    cols = (w - 1 - np.arange(w) // 2) % w
    return np.ascontiguousarray(frame[rows][:, cols])


#: Faults that change the picture, by kind.
PICTURE_FAULTS = {
    "black": _black,
    "blur": _blur,
    "occlusion": _occlusion,
    "noise": _noise,
    "color_cast": _color_cast,
    "stripes": _stripes,
    "dark": _dark,
    "bright": _bright,
    "turned": _turned,
}


def apply_fault(kind: str | None, frame: np.ndarray, n: int = 0) -> np.ndarray:
    """Return ``frame`` as a camera with fault ``kind`` would show it (None: unchanged)."""
    if kind is None or kind in ("clear", "offline", "freeze"):
        return frame
    try:
        fn = PICTURE_FAULTS[kind]
    except KeyError:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(KINDS)}") from None
    return fn(frame, n)


class MovingScene:
    """A generated moving scene: a textured ground with walkers crossing it.

    Deterministic in the frame number; used when no source video is given.
    """

    COLOURS = ((200, 40, 40), (40, 60, 200), (230, 200, 40), (20, 20, 20), (240, 240, 240), (150, 60, 160))

    def __init__(self, width: int, height: int, fps: float = 10.0) -> None:
        self.width, self.height, self.fps = width, height, fps
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        base = np.empty((height, width, 3), np.float32)
        base[..., 0] = 120 + 50 * (y / height)
        base[..., 1] = 125 + 40 * (x / width)
        base[..., 2] = 110 + 30 * (y / height)
        # paving joints and a lawn strip give the picture texture (focus, scene matching)
        joints = ((x.astype(np.int32) % 48) < 2) | ((y.astype(np.int32) % 32) < 2)
        base[joints] *= 0.6
        lawn = y < height * 0.25
        base[lawn] = base[lawn] * (0.5, 0.9, 0.5)
        self.background = base.astype(np.uint8)

    def frame(self, n: int) -> np.ndarray:
        w, h = self.width, self.height
        img = self.background.copy()
        t = n / self.fps
        pw, ph = max(6, w // 40), max(14, h // 12)
        for i, colour in enumerate(self.COLOURS):
            speed = 18 + 9 * i
            px = int((37 * i * w / 7 + speed * t) % (w + pw)) - pw
            py = int(h * (0.3 + 0.11 * i)) % max(1, h - ph)
            x0, x1 = max(0, px), min(w, px + pw)
            if x1 > x0:
                img[py : py + ph, x0:x1] = colour
        # a ticker bar, so that consecutive frames always differ somewhere
        bar = int((n % 100) / 100 * w)
        img[h - 6 : h - 2, :bar] = 255
        return img
