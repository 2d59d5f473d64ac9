"""Grab one picture from a stream as JPEG (for snapshots, the video wall and patrols)."""

from __future__ import annotations

import time

import cv2
import numpy as np

from lookout.media.ingest import ReaderOptions, classify_error, open_with_retry, redact


class SnapshotError(RuntimeError):
    """No picture could be taken; the message says why (dead URL, wrong password, …)."""


def grab_frame(url: str, timeout: float = 10.0) -> np.ndarray:
    """The first key frame of ``url`` as a BGR image (key frames are whole pictures)."""
    opts = ReaderOptions(open_timeout=min(5.0, timeout), read_timeout=min(5.0, timeout))
    deadline = time.monotonic() + timeout
    try:
        container, _ = open_with_retry(url, opts)
    except Exception as exc:
        raise SnapshotError(f"{redact(url)}: {classify_error(exc).reason}") from exc
    try:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        for packet in container.demux(stream):
            if time.monotonic() > deadline:
                break
            if packet.size == 0 or not packet.is_keyframe:
                continue
            try:
                frames = packet.decode()
            except Exception:
                continue  # a corrupt key frame: wait for the next one
            for frame in frames:
                return frame.to_ndarray(format="bgr24")
    except Exception as exc:
        raise SnapshotError(f"{redact(url)}: {classify_error(exc).reason}") from exc
    finally:
        container.close()
    raise SnapshotError(f"{redact(url)}: no picture within {timeout:.0f} s")


def encode_jpeg(image: np.ndarray, quality: int = 85, max_width: int | None = None) -> bytes:
    if max_width and image.shape[1] > max_width:
        h = round(image.shape[0] * max_width / image.shape[1])
        image = cv2.resize(image, (max_width, h), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise SnapshotError("JPEG encoding failed")
    return buf.tobytes()


def snapshot_jpeg(url: str, timeout: float = 10.0, quality: int = 85, max_width: int | None = None) -> bytes:
    """One JPEG picture from ``url``; raises :class:`SnapshotError` with the reason."""
    return encode_jpeg(grab_frame(url, timeout), quality, max_width)
