"""Read what is to be diagnosed: a picture, a video file or a stream URL, as a list of BGR frames.

A video is sampled evenly over its whole length (at most ``max_frames`` frames kept, the
spacing doubling as the clip grows) so that a long file costs little memory; a stream is
read for ``stream_seconds``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "srt://")


class SourceError(ValueError):
    """The picture, file or stream could not be read."""


@dataclass(frozen=True)
class Clip:
    """Frames read for a diagnosis, in time order, and which of them were coded as key frames."""

    frames: list[np.ndarray]
    key_frames: tuple[int, ...] = ()


def is_stream(path: str) -> bool:
    return str(path).lower().startswith(STREAM_SCHEMES)


def read_image(path: str | Path) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise SourceError(f"{p}: no such file")
    img = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if img is None:
        raise SourceError(f"{p}: not a readable picture")
    return img


class _Reservoir:
    """Keeps evenly spaced pairs of neighbouring frames (the frozen check compares neighbours).

    Frames 2k·step and 2k·step+1 are kept, each with whether it was coded as a key frame; when more
    than `cap` are held, every other pair is dropped and the step doubles.
    """

    def __init__(self, cap: int) -> None:
        self.cap, self.step, self.seen, self.pairs = max(2, cap), 1, 0, []
        self._open: list[tuple[np.ndarray, bool]] | None = None  # a pair waiting for its second frame

    def offer(self, frame: np.ndarray, key: bool = False) -> None:
        item = (frame, key)
        if self._open is not None:
            self._open.append(item)
            self._open = None
        elif self.seen % (2 * self.step) == 0:
            pair = [item]
            self.pairs.append(pair)
            self._open = pair
            if 2 * len(self.pairs) > self.cap:
                self.pairs = self.pairs[::2]
                self.step *= 2
                if self._open is not None and self._open is not self.pairs[-1]:
                    self._open = None
        self.seen += 1

    @property
    def items(self) -> list[tuple[np.ndarray, bool]]:
        return [f for p in self.pairs for f in p]

    def clip(self) -> Clip:
        items = self.items
        return Clip([f for f, _ in items], tuple(i for i, (_, key) in enumerate(items) if key))


def read_video(path: str | Path, max_frames: int = 24) -> Clip:
    p = Path(path)
    if not p.is_file():
        raise SourceError(f"{p}: no such file")
    res = _Reservoir(max_frames)
    try:
        with av.open(str(p)) as c:
            if not c.streams.video:
                raise SourceError(f"{p}: no video stream")
            st = c.streams.video[0]
            st.thread_type = "AUTO"
            for frame in c.decode(st):
                res.offer(frame.to_ndarray(format="bgr24"), frame.key_frame)
    except av.FFmpegError as e:
        if not res.items:
            raise SourceError(f"{p}: cannot decode video ({e})") from e
        log.warning("%s: decoding stopped early (%s); diagnosing %d frames", p, e, len(res.items))
    if not res.items:
        raise SourceError(f"{p}: no decodable frame")
    return res.clip()


def read_stream(url: str, seconds: float = 4.0, max_frames: int = 24, open_timeout: float = 10.0) -> Clip:
    """Key frames and others from a live stream for `seconds` (wall time), evenly thinned."""
    res = _Reservoir(max_frames)
    opts = {"rtsp_transport": "tcp", "stimeout": str(int(open_timeout * 1e6)), "timeout": str(int(open_timeout * 1e6))}
    try:
        with av.open(url, options=opts, timeout=(open_timeout, open_timeout)) as c:
            if not c.streams.video:
                raise SourceError(f"{url}: no video stream")
            st = c.streams.video[0]
            t0 = time.monotonic()
            for frame in c.decode(st):
                res.offer(frame.to_ndarray(format="bgr24"), frame.key_frame)
                if time.monotonic() - t0 >= seconds:
                    break
    except av.FFmpegError as e:
        if not res.items:
            raise SourceError(f"{url}: cannot read stream ({e})") from e
    if not res.items:
        raise SourceError(f"{url}: no frame received")
    return res.clip()


def read_any(path: str | Path, max_frames: int = 24) -> Clip:
    s = str(path)
    if is_stream(s):
        return read_stream(s, max_frames=max_frames)
    if Path(s).suffix.lower() in IMAGE_SUFFIXES:
        return Clip([read_image(s)])
    return read_video(s, max_frames=max_frames)
