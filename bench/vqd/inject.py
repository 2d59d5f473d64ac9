"""Fault injection on real frames (BGR uint8), used to build the VQD evaluation corpus.

Every function takes a frame and a random generator and returns a new frame; strengths
are named so the corpus manifest says what was done.
"""

from __future__ import annotations

import cv2
import numpy as np

STRENGTHS = ("mild", "medium", "strong")


def _clip(a: np.ndarray) -> np.ndarray:
    return np.clip(a, 0, 255).astype(np.uint8)


# ---- clean variations ---------------------------------------------------------------


def lighting(frame: np.ndarray, gain: float, gamma: float = 1.0) -> np.ndarray:
    f = frame.astype(np.float32) / 255.0
    return _clip(255.0 * np.power(f, gamma) * gain)


def night_grey(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An infrared night picture: grey-scale, a little darker and softer, some sensor noise."""
    g = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)
    g = 0.75 * g + 10
    g = cv2.GaussianBlur(g, (0, 0), 0.7)
    g += rng.normal(0, 2.5, g.shape).astype(np.float32)
    g = _clip(g)
    return cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)


def sensor_noise(frame: np.ndarray, rng: np.random.Generator, sigma: float = 2.0) -> np.ndarray:
    return _clip(frame.astype(np.float32) + rng.normal(0, sigma, frame.shape).astype(np.float32))


def jpeg(frame: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


# ---- faults ---------------------------------------------------------------------------


def signal_loss(frame: np.ndarray, strength: str, rng: np.random.Generator) -> np.ndarray:
    h, w = frame.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = w / 640
    if strength == "mild":  # black screen with the recorder's OSD still drawn on it
        out = np.full_like(frame, 16)
        cv2.putText(out, "2026-11-22 14:03:27", (int(20 * scale), int(40 * scale)), font, 0.8 * scale, (235, 235, 235), 2)
        cv2.putText(out, "CAM 07 Gate East", (int(w - 260 * scale), int(h - 20 * scale)), font, 0.8 * scale, (235, 235, 235), 2)
        return sensor_noise(out, rng, 1.0)
    if strength == "medium":  # blue "no video" card
        out = np.zeros_like(frame)
        out[:] = (170, 40, 10)
        cv2.putText(out, "NO VIDEO", (int(w / 2 - 110 * scale), int(h / 2)), font, 1.6 * scale, (255, 255, 255), 3)
        return out
    colour = rng.integers(0, 256, 3).tolist()  # solid screen of any colour, encoder-grade noise
    out = np.zeros_like(frame)
    out[:] = colour
    return sensor_noise(out, rng, 1.5)


def frozen_clip(frames: list[np.ndarray], strength: str, rng: np.random.Generator) -> list[np.ndarray]:
    """The picture stops; "medium" keeps a ticking clock drawn over it, "strong" adds encoder jitter."""
    still = frames[len(frames) // 3].copy()
    out = []
    h, w = still.shape[:2]
    scale = w / 640
    for i in range(len(frames)):
        f = still.copy()
        if strength in ("medium", "strong"):
            cv2.putText(f, f"2026-11-22 14:03:{10 + i:02d}", (int(16 * scale), int(36 * scale)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, (255, 255, 255), 2)
        if strength == "strong":
            f = _clip(f.astype(np.float32) + rng.normal(0, 0.4, f.shape).astype(np.float32))
        out.append(f)
    return out


def defocus(frame: np.ndarray, strength: str) -> np.ndarray:
    w = frame.shape[1]
    r = {"mild": 0.006, "medium": 0.010, "strong": 0.016}[strength] * w
    k = int(np.ceil(r)) * 2 + 1
    kernel = np.zeros((k, k), np.float32)
    cv2.circle(kernel, (k // 2, k // 2), max(1, int(round(r))), 1.0, -1)
    kernel /= kernel.sum()
    return cv2.filter2D(frame, -1, kernel, borderType=cv2.BORDER_REFLECT)


_OCCLUDERS = ("branches", "pillar", "cloth", "paint")


def occlusion(frame: np.ndarray, strength: str, rng: np.random.Generator, kind: str | None = None) -> tuple[np.ndarray, str]:
    """Cover part of the view (about 20 / 35 / 50 % of it) with something near the lens."""
    h, w = frame.shape[:2]
    kind = kind or _OCCLUDERS[int(rng.integers(0, len(_OCCLUDERS)))]
    frac = {"mild": 0.2, "medium": 0.35, "strong": 0.5}[strength]
    mask = np.zeros((h, w), np.float32)
    colour_img = np.zeros_like(frame, dtype=np.float32)
    if kind == "pillar":
        pw = int(frac * w)
        x0 = 0 if rng.random() < 0.5 else w - pw
        mask[:, x0:x0 + pw] = 1
        base = rng.uniform(50, 120)
        ramp = np.linspace(0.8, 1.2, pw)[None, :]
        colour_img[:, x0:x0 + pw, :] = (base * ramp)[..., None]
    elif kind == "branches":
        target = frac * h * w
        corner = (0 if rng.random() < 0.5 else w, 0)
        while mask.sum() < target:
            cx = int(np.clip(corner[0] + rng.normal(0, w * 0.35), 0, w))
            cy = int(abs(rng.normal(0, h * 0.45)))
            ax = int(rng.uniform(0.03, 0.1) * w)
            ay = int(rng.uniform(0.02, 0.06) * w)
            cv2.ellipse(mask, (cx, cy), (ax, ay), float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        leaf = np.array([rng.uniform(20, 50), rng.uniform(50, 90), rng.uniform(20, 45)], np.float32)
        colour_img[:] = leaf
        shade = cv2.GaussianBlur(rng.uniform(0.6, 1.3, (h, w)).astype(np.float32), (0, 0), w * 0.02)
        colour_img *= shade[..., None]
    elif kind == "cloth":
        side = int(rng.integers(0, 4))
        pts_n = int(frac * (w if side < 2 else h))
        if side == 0:
            mask[:, :pts_n] = 1
        elif side == 1:
            mask[:, w - pts_n:] = 1
        elif side == 2:
            mask[:pts_n, :] = 1
        else:
            mask[h - pts_n:, :] = 1
        colour = rng.uniform(60, 220, 3).astype(np.float32)
        folds = cv2.GaussianBlur(rng.uniform(0.85, 1.15, (h, w)).astype(np.float32), (0, 0), w * 0.03)
        colour_img[:] = colour
        colour_img *= folds[..., None]
    else:  # paint sprayed on the dome: an irregular blob
        target = frac * h * w
        cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
        while mask.sum() < target:
            px = int(cx + rng.normal(0, w * 0.15))
            py = int(cy + rng.normal(0, h * 0.15))
            cv2.circle(mask, (px, py), int(rng.uniform(0.04, 0.09) * w), 1.0, -1)
        colour_img[:] = rng.uniform(0, 255, 3).astype(np.float32)
    # near the lens: out of focus, so soft edges and little texture of its own
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, w * 0.008))
    colour_img = cv2.GaussianBlur(colour_img, (0, 0), max(1.0, w * 0.004))
    colour_img += rng.normal(0, 1.5, colour_img.shape).astype(np.float32)
    out = frame.astype(np.float32) * (1 - mask[..., None]) + colour_img * mask[..., None]
    return _clip(out), kind


def too_dark(frame: np.ndarray, strength: str) -> np.ndarray:
    gain = {"mild": 0.3, "medium": 0.2, "strong": 0.1}[strength]
    return lighting(frame, gain, 1.2)


def too_bright(frame: np.ndarray, strength: str) -> np.ndarray:
    f = frame.astype(np.float32)
    if strength == "mild":
        return _clip(f * 0.45 + 150)  # washed out
    if strength == "medium":
        return _clip(f * 2.0 + 40)
    return _clip(f * 3.0 + 60)


_CASTS = {
    "red": (0.75, 0.95, 1.35),
    "green": (0.8, 1.3, 0.8),
    "blue": (1.35, 0.95, 0.75),
    "yellow": (0.65, 1.15, 1.2),
    "magenta": (1.2, 0.7, 1.2),
}


def color_cast(frame: np.ndarray, strength: str, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    name = list(_CASTS)[int(rng.integers(0, len(_CASTS)))]
    k = {"mild": 0.6, "medium": 1.0, "strong": 1.6}[strength]
    gains = np.array([1 + k * (g - 1) for g in _CASTS[name]], np.float32)
    return _clip(frame.astype(np.float32) * gains), name


def noise(frame: np.ndarray, strength: str, rng: np.random.Generator) -> np.ndarray:
    sigma = {"mild": 12, "medium": 22, "strong": 38}[strength]
    f = frame.astype(np.float32)
    g = rng.normal(0, sigma, frame.shape[:2]).astype(np.float32)[..., None]  # snow is mostly luminance
    f = f + g + rng.normal(0, sigma * 0.3, frame.shape).astype(np.float32)
    dots = rng.random(frame.shape[:2]) < {"mild": 0.005, "medium": 0.01, "strong": 0.03}[strength]
    f[dots] = 255
    return _clip(f)


def stripes(frame: np.ndarray, strength: str, rng: np.random.Generator, phase: float = 0.0) -> tuple[np.ndarray, str]:
    h, w = frame.shape[:2]
    amp = {"mild": 10, "medium": 18, "strong": 30}[strength]
    angle = float(rng.choice([0.0, 90.0, 20.0, 60.0, 135.0]))
    period = float(rng.uniform(0.02, 0.08) * h)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = np.deg2rad(angle)
    wave = np.sin(2 * np.pi * (xx * np.sin(t) + yy * np.cos(t)) / period + phase)
    f = frame.astype(np.float32)
    if rng.random() < 0.3:  # coloured interference on one channel
        c = int(rng.integers(0, 3))
        f[..., c] += amp * 1.5 * wave
        desc = f"a{angle:.0f}_p{period:.0f}_c{c}"
    else:
        f += (amp * wave)[..., None]
        desc = f"a{angle:.0f}_p{period:.0f}"
    return _clip(f), desc


def window(frame: np.ndarray, x: float, y: float, zoom: float = 1.0, size: tuple[int, int] = (640, 480),
           frac: float = 0.7) -> np.ndarray:
    """The camera's view: a window of `frac` of the source, centred at (x, y) in 0..1, resized to size."""
    h, w = frame.shape[:2]
    ww, wh = w * frac / zoom, h * frac / zoom
    cx = np.clip(x * w, ww / 2, w - ww / 2)
    cy = np.clip(y * h, wh / 2, h - wh / 2)
    x0, y0 = int(round(cx - ww / 2)), int(round(cy - wh / 2))
    crop = frame[y0:y0 + int(wh), x0:x0 + int(ww)]
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA if zoom <= 1.4 else cv2.INTER_LINEAR)
