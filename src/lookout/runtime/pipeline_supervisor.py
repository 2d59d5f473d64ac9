"""Runs one counting worker process per camera channel and is the one writer of their counts.

``PipelineSupervisor(db_url, jobs)``: ``start()`` spawns the workers; ``poll()`` takes their
messages, stores the samples with ``counting.sources.ingest_samples`` (each (source, seq) once),
fuses the site's occupancy and publishes it on the bus (``site.<id>.occupancy``); ``check()``
restarts a worker that died, with backoff; ``stop()`` ends them all. ``jobs_from_registry``
builds the jobs of every channel whose analyzers include ``"count"``.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue as queue_mod
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from lookout.runtime.pipeline_worker import ChannelJob, LineSpec, ZoneSpec, run_worker

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class WorkerState:
    job: ChannelJob
    process: Any = None
    restarts: int = 0
    next_start: float = 0.0
    finished: bool = False
    last_error: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)


def source_defaults(job: ChannelJob) -> dict[str, dict[str, Any]]:
    """How the worker's sources are registered on first use (lines are flows, zones presence)."""
    out: dict[str, dict[str, Any]] = {}
    for ln in job.lines:
        out[f"ch{job.channel_id}-line{ln.line_id}"] = {"category": "video_line", "is_entrance": ln.is_entrance,
                                                      "channel_id": job.channel_id}
    for z in job.zones:
        out[f"ch{job.channel_id}-zone{z.zone_id}"] = {"category": "video_zone", "zone_id": z.zone_id,
                                                     "covers_site": False, "channel_id": job.channel_id}
    return out


class PipelineSupervisor:
    def __init__(self, db_url: str, jobs: list[ChannelJob], clock: Callable[[], datetime] = _utcnow,
                 max_backoff: float = 60.0, publish: bool = True) -> None:
        self.db_url, self.clock, self.max_backoff, self.publish = db_url, clock, max_backoff, publish
        self.ctx = mp.get_context("spawn")
        self.queue = self.ctx.Queue()
        self.stop_event = self.ctx.Event()
        self.workers = {j.channel_id: WorkerState(j) for j in jobs}
        self.stored = 0

    def _spawn(self, w: WorkerState) -> None:
        w.process = self.ctx.Process(target=run_worker, args=(w.job.to_dict(), self.queue, self.stop_event),
                                     name=f"count-ch{w.job.channel_id}", daemon=True)
        w.process.start()

    def start(self) -> None:
        for w in self.workers.values():
            self._spawn(w)

    def check(self) -> None:
        """Restart workers that died (not those whose file source ended normally, nor any once told to stop)."""
        if self.stop_event.is_set():
            return
        now = time.monotonic()
        for w in self.workers.values():
            p = w.process
            if p is None or p.is_alive() or w.finished and p.exitcode == 0:
                continue
            if p.exitcode == 0 and not w.job.live:
                w.finished = True
                continue
            if w.next_start == 0.0:
                delay = min(self.max_backoff, 2.0 ** min(w.restarts, 6))
                w.next_start = now + delay
                log.warning("channel %s: counting worker exited (%s); restart in %.0f s", w.job.channel_id,
                            w.last_error or f"exit code {p.exitcode}", delay)
            elif now >= w.next_start:
                w.restarts += 1
                w.next_start = 0.0
                self._spawn(w)

    def handle(self, msg: dict[str, Any]) -> None:
        from lookout.counting.fusion import publish_occupancy, site_occupancy
        from lookout.counting.sources import ingest_samples
        from lookout.store.db import session_scope

        w = self.workers.get(msg.get("channel_id"))
        kind = msg.get("type")
        if w is None:
            log.warning("message from an unknown channel ignored: %r", msg)
            return
        if kind == "error":
            w.last_error = msg.get("error")
            return
        if kind == "done":
            return
        if kind != "samples":
            log.warning("channel %s: unknown message type %r ignored", w.job.channel_id, kind)
            return
        w.stats = msg.get("stats", {})
        if not msg.get("samples"):
            return
        now = self.clock()
        try:
            with session_scope(self.db_url) as s:
                res = ingest_samples(s, w.job.site_id, msg["samples"], now, source_defaults=source_defaults(w.job))
                self.stored += res.accepted
                snap = site_occupancy(s, w.job.site_id, now)
        except Exception:  # a bad batch or a database hiccup must not stop the other cameras
            log.exception("channel %s: count samples not stored", w.job.channel_id)
            return
        if self.publish:
            publish_occupancy(snap)

    def poll(self, timeout: float = 0.5) -> int:
        """Handle the messages waiting (blocking up to ``timeout`` for the first); returns how many."""
        n = 0
        try:
            msg = self.queue.get(timeout=timeout)
            while True:
                self.handle(msg)
                n += 1
                msg = self.queue.get_nowait()
        except queue_mod.Empty:
            pass
        self.check()
        return n

    def all_finished(self) -> bool:
        return all(w.finished for w in self.workers.values())

    def stop(self, timeout: float = 5.0) -> None:
        """Ask every worker to finish, wait for all of them together up to ``timeout`` seconds (each
        was told at once, so they finish side by side), then terminate any still running."""
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for w in self.workers.values():
            if w.process is not None:
                w.process.join(max(0.0, deadline - time.monotonic()))
        for w in self.workers.values():
            if w.process is not None and w.process.is_alive():
                w.process.terminate()
                w.process.join(1.0)
        self.poll(timeout=0.1)


def jobs_from_registry(session: Any, prefer_sub_stream: bool = True) -> list[ChannelJob]:
    """A job for each channel configured with the "count" analyzer and a stream URL."""
    from sqlalchemy import select

    from lookout.registry.models import Channel, CountingLine, Zone

    jobs = []
    for ch in session.execute(select(Channel)).scalars():
        if "count" not in (ch.analyzers or []):
            continue
        url = (ch.sub_url or ch.main_url) if prefer_sub_stream else (ch.main_url or ch.sub_url)
        if not url:
            log.warning("channel %s: configured for counting but has no stream URL", ch.code)
            continue
        lines = [LineSpec(ln.id, ln.x1, ln.y1, ln.x2, ln.y2, ln.margin_px, ln.in_side, True, ln.is_entrance)
                 for ln in session.execute(select(CountingLine).where(CountingLine.channel_id == ch.id)).scalars()]
        zones = []
        calib = ch.calibration or None
        if ch.zone_id is not None:
            zone = session.get(Zone, ch.zone_id)
            polygon = (calib or {}).get("zone") or (calib or {}).get("image")
            if polygon:
                zones.append(ZoneSpec(ch.zone_id, polygon, zone.area_m2 if zone else None))
        cfg = {k: v for k, v in (calib or {}).items() if k in ("image", "ground")} or None
        jobs.append(ChannelJob(ch.id, ch.site_id, url, analysis_fps=ch.analysis_fps or 5.0, lines=lines, zones=zones,
                               calibration=cfg, live=not url.startswith("file:") and "://" in url))
    return jobs
