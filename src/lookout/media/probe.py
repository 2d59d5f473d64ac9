"""Stream facts: codec, resolution, frame rate, bitrate and GOP of a camera stream.

:func:`facts_from_packets` is pure (packet timings and sizes in, facts out);
:func:`probe_stream` reads a few seconds of packets with PyAV, without decoding.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from lookout.media.ingest import ReaderOptions, classify_error, open_with_retry, redact


@dataclass(frozen=True)
class PacketInfo:
    time: float  # presentation time, seconds
    size: int  # bytes
    key: bool


@dataclass(frozen=True)
class StreamFacts:
    codec: str  # "h264", "hevc", …
    profile: str | None
    width: int
    height: int
    fps: float | None  # measured from packet times (declared rate when too few packets)
    declared_fps: float | None  # what the stream header says
    bitrate_kbps: float | None  # measured over the sample
    gop: int | None  # frames from one key frame to the next (the most common spacing)
    keyframe_interval_s: float | None
    transport: str | None = None
    sample_seconds: float = 0.0
    packets: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def facts_from_packets(
    packets: Sequence[PacketInfo],
    *,
    codec: str,
    width: int,
    height: int,
    declared_fps: float | None = None,
    profile: str | None = None,
    transport: str | None = None,
) -> StreamFacts:
    """Measure frame rate, bitrate and GOP from the packets of one video stream."""
    times = sorted(p.time for p in packets)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    fps = (len(times) - 1) / span if span > 0 else declared_fps
    frame_time = 1.0 / fps if fps else 0.0
    duration = span + frame_time
    bitrate = sum(p.size for p in packets) * 8 / duration / 1000 if duration > 0 else None
    ordered = sorted(packets, key=lambda p: p.time)
    key_idx = [i for i, p in enumerate(ordered) if p.key]
    gaps = [b - a for a, b in zip(key_idx, key_idx[1:])]
    gop = statistics.mode(gaps) if gaps else None
    key_times = [ordered[i].time for i in key_idx]
    kgaps = [b - a for a, b in zip(key_times, key_times[1:])]
    return StreamFacts(
        codec=codec,
        profile=profile,
        width=width,
        height=height,
        fps=round(fps, 3) if fps else None,
        declared_fps=round(declared_fps, 3) if declared_fps else None,
        bitrate_kbps=round(bitrate, 1) if bitrate else None,
        gop=gop,
        keyframe_interval_s=round(statistics.median(kgaps), 3) if kgaps else None,
        transport=transport,
        sample_seconds=round(span, 3),
        packets=len(packets),
    )


class ProbeError(RuntimeError):
    """The stream could not be probed; the message says why."""


def probe_stream(url: str, seconds: float = 3.0, keyframes: int = 3, options: ReaderOptions | None = None) -> StreamFacts:
    """Read packets for up to ``seconds`` (or until ``keyframes`` key frames) and measure the stream."""
    opts = options or ReaderOptions(open_timeout=5.0, read_timeout=5.0)
    try:
        container, transport = open_with_retry(url, opts)
    except Exception as exc:
        raise ProbeError(f"{redact(url)}: {classify_error(exc).reason}") from exc
    try:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate
        declared = float(rate) if rate else None
        packets: list[PacketInfo] = []
        seen_keys = 0
        deadline = time.monotonic() + seconds + opts.open_timeout
        try:
            for pkt in container.demux(stream):
                if pkt.size == 0 or pkt.pts is None:
                    continue
                packets.append(PacketInfo(float(pkt.pts * pkt.time_base), pkt.size, bool(pkt.is_keyframe)))
                seen_keys += pkt.is_keyframe
                span = packets[-1].time - packets[0].time
                if seen_keys > keyframes or span >= seconds or time.monotonic() > deadline:
                    break
        except Exception as exc:
            if not packets:
                raise ProbeError(f"{redact(url)}: {classify_error(exc).reason}") from exc
        if not packets:
            raise ProbeError(f"{redact(url)}: no video packets")
        return facts_from_packets(
            packets,
            codec=ctx.name,
            width=ctx.width,
            height=ctx.height,
            declared_fps=declared,
            profile=ctx.profile,
            transport=transport,
        )
    finally:
        container.close()
