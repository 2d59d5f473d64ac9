"""Frames of a video file for offline counting (PyAV; live streams go through lookout.runtime)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

log = logging.getLogger(__name__)


class VideoError(RuntimeError):
    pass


def video_fps(path: str | Path) -> float:
    if not Path(path).is_file():
        raise VideoError(f"{path}: no such video file")
    try:
        with av.open(str(path)) as c:
            rate = c.streams.video[0].average_rate or c.streams.video[0].guessed_rate
    except (av.error.FFmpegError, IndexError) as exc:
        raise VideoError(f"{path}: not a readable video ({exc})") from exc
    return float(rate) if rate else 25.0


def read_frames(path: str | Path, every: int = 1, threads: int = 1) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(index, seconds, bgr_frame)`` for frames 0, every, 2·every, … (0-based decode order).

    Every frame is decoded (codecs need their references) but only those kept are converted.
    A corrupt frame is logged and skipped, never fatal.
    """
    if every < 1:
        raise ValueError(f"every must be ≥ 1, got {every}")
    p = Path(path)
    if not p.is_file():
        raise VideoError(f"{p}: no such video file")
    try:
        container = av.open(str(p))
    except av.error.FFmpegError as exc:
        raise VideoError(f"{p}: not a readable video ({exc})") from exc
    with container:
        if not container.streams.video:
            raise VideoError(f"{p}: has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        index = 0
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.FFmpegError as exc:
                log.warning("%s: unreadable packet after frame %d skipped: %s", p, index, exc)
                continue
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                log.warning("%s: corrupt frame %d skipped: %s", p, index, exc)
                index += 1
                continue
            for frame in frames:
                if index % every == 0:
                    yield index, index / float(rate), frame.to_ndarray(format="bgr24")
                index += 1
