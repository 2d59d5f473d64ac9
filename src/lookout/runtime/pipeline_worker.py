"""Per-camera counting worker: decode → sample at the channel's analysis rate → counting
pipeline → count samples sent to the main process (the one database writer).

A worker runs in its own process (``run_worker``) for one channel. Load shedding: frames are
taken at the analysis rate by their timestamps; on a live stream, when analysis falls behind,
frames are dropped (the next analysed frame is the newest one due), never queued. Every
``emit_seconds`` the worker sends one message::

    {"type": "samples", "channel_id", "site_id", "samples": [{source, seq, ts, in, out} | {source, seq, ts, present}],
     "stats": {...}}

Sources are named ``ch<channel>-line<line>`` (flow) and ``ch<channel>-zone<zone>``
(presence); ``seq`` is the emit period number (``ts // emit_seconds``), so it keeps rising
across restarts and a gap means the camera was not counted for that period.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class LineSpec:
    line_id: int
    x1: float
    y1: float
    x2: float
    y2: float
    margin: float = 10.0
    in_side: str = "left"  # which side of P1→P2 is inside the site: "left" (s > 0) or "right"
    bounded: bool = True
    is_entrance: bool = True


@dataclass
class ZoneSpec:
    zone_id: int
    polygon: list[list[float]]
    area_m2: float | None = None


@dataclass
class ChannelJob:
    channel_id: int
    site_id: int
    url: str
    analysis_fps: float = 5.0
    detector: dict[str, Any] | None = None  # None: the profile's SSDLite; or e.g. {"kind": "yolo", "path": …}
    profile: str = "accurate"  # see lookout.counting.pipeline.PROFILES
    lines: list[LineSpec] = field(default_factory=list)
    zones: list[ZoneSpec] = field(default_factory=list)
    calibration: dict[str, Any] | None = None
    emit_seconds: float = 5.0
    live: bool = True  # False: a file, analysed as fast as possible with its own timestamps
    loop: bool = False  # files only: start again at the end (demo, benchmarks)
    threads: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ChannelJob:
        d = dict(d)
        d["lines"] = [LineSpec(**x) for x in d.get("lines", [])]
        d["zones"] = [ZoneSpec(**x) for x in d.get("zones", [])]
        return cls(**d)


class RateGate:
    """Which frames to analyse: one per 1/fps seconds of stream time; when processing lags
    behind a live stream, the frames that fell due meanwhile are dropped (load shedding)."""

    def __init__(self, fps: float) -> None:
        if fps <= 0:
            raise ValueError(f"analysis rate must be > 0, got {fps}")
        self.interval = 1.0 / fps
        self.next_due: float | None = None
        self.dropped = 0

    def take(self, ts: float) -> bool:
        if self.next_due is None or ts >= self.next_due - 1e-6:
            if self.next_due is not None and ts - self.next_due > self.interval:
                self.dropped += int((ts - self.next_due) / self.interval)
            base = ts if self.next_due is None or ts - self.next_due > self.interval else self.next_due
            self.next_due = base + self.interval
            return True
        return False


def build_pipeline(job: ChannelJob):
    from lookout.counting.calibration import GroundCalibration
    from lookout.counting.detectors import create_detector
    from lookout.counting.lines import Line
    from lookout.counting.pipeline import CountingPipeline, profile
    from lookout.counting.zones import ImageZone

    det_spec, cfg = profile(job.profile, job.analysis_fps, job.detector)
    det_spec.setdefault("threads", job.threads)
    detector = create_detector(det_spec)
    lines = []
    for spec in job.lines:
        # the pipeline counts "in" from s < 0 to s > 0: flip a line whose inside is on the right
        pts = (spec.x1, spec.y1, spec.x2, spec.y2) if spec.in_side == "left" else (spec.x2, spec.y2, spec.x1, spec.y1)
        lines.append(Line(*pts, margin=spec.margin, name=str(spec.line_id), bounded=spec.bounded))
    calib = GroundCalibration.from_config(job.calibration)
    zones = [ImageZone(str(z.zone_id), z.polygon, area_m2=z.area_m2, calibration=calib, zone_id=z.zone_id)
             for z in job.zones]
    return CountingPipeline(detector, cfg, lines=lines, zones=zones)


def open_frames(job: ChannelJob):
    """(seconds, BGR frame) from a file or a live URL, with PyAV."""
    import av

    options = {"rtsp_transport": "tcp", "fflags": "nobuffer", "flags": "low_delay"} if job.url.startswith("rtsp") else {}
    offset = 0.0  # a looping file keeps its time rising
    while True:
        container = av.open(job.url, options=options, timeout=10.0)
        last = 0.0
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = job.threads
            step = 1.0 / float(stream.average_rate or 25)
            for frame in container.decode(stream):
                last = float(frame.time) if frame.time is not None else last + step
                yield offset + last, frame
        finally:
            container.close()
        if not job.loop or job.live:
            return
        offset += last + step


def run_worker(job_dict: dict[str, Any], queue: Any, stop: Any) -> None:
    """Process entry point: count one channel until ``stop`` is set or the source ends."""
    import cv2

    cv2.setNumThreads(1)
    job = ChannelJob.from_dict(job_dict)
    pipe = build_pipeline(job)
    gate = RateGate(job.analysis_fps)
    flows: dict[int, list[int]] = {ln.line_id: [0, 0] for ln in job.lines}
    zones_now: dict[int, int] = {}
    analysed = 0
    frames_seen = 0
    busy = 0.0
    started = time.monotonic()
    first_at: float | None = None  # when the first frame was analysed (model loaded, stream open)
    first_cpu = 0.0
    wall_of_emit = time.time()
    offset = None  # stream seconds → wall seconds
    last_period = None

    def emit(now_wall: float, final: bool = False) -> None:
        nonlocal flows, last_period
        period = int(now_wall // job.emit_seconds)
        if last_period is not None and period <= last_period:
            if not final:
                return
            period = last_period + 1
        last_period = period
        ts = datetime.fromtimestamp(now_wall, timezone.utc).isoformat()
        samples = [{"source": f"ch{job.channel_id}-line{lid}", "seq": period, "ts": ts, "in": v[0], "out": v[1]}
                   for lid, v in flows.items()]
        samples += [{"source": f"ch{job.channel_id}-zone{zid}", "seq": period, "ts": ts, "present": n}
                    for zid, n in zones_now.items()]
        elapsed = max(1e-6, time.monotonic() - (first_at or started))
        queue.put({"type": "samples", "channel_id": job.channel_id, "site_id": job.site_id, "samples": samples,
                   "stats": {"analysed": analysed, "frames": frames_seen, "dropped": gate.dropped,
                             "analysis_fps": max(0, analysed - 1) / elapsed, "busy": busy / elapsed,
                             "cpu_seconds": time.process_time() - first_cpu if first_at else 0.0,
                             "detector_calls": pipe.detector_calls}})
        flows = {lid: [0, 0] for lid in flows}

    try:
        for ts, frame in open_frames(job):
            if stop.is_set():
                break
            frames_seen += 1
            if not gate.take(ts):
                continue
            t0 = time.monotonic()
            if first_at is None:
                first_at, first_cpu = t0, time.process_time()
            res = pipe.process(frame.to_ndarray(format="bgr24"), ts)
            busy += time.monotonic() - t0
            analysed += 1
            for c in res.crossings:
                flows[int(c.line)][0 if c.direction == "in" else 1] += 1
            for z in res.zones:
                zones_now[int(z.name)] = z.count
            if job.live:
                now_wall = time.time()
            else:
                offset = offset if offset is not None else wall_of_emit - ts
                now_wall = offset + ts
            if now_wall - wall_of_emit >= job.emit_seconds:
                emit(now_wall)
                wall_of_emit = now_wall
        emit(time.time() if job.live else (offset or wall_of_emit) + job.emit_seconds, final=True)
    except Exception as exc:  # reported to the supervisor, which restarts the worker
        log.exception("channel %s: counting worker failed", job.channel_id)
        queue.put({"type": "error", "channel_id": job.channel_id, "error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        queue.put({"type": "done", "channel_id": job.channel_id})
