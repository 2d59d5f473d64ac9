"""Patrols: every channel on a schedule, key-frame-only decoding, diagnosis, results stored.

A patrol of one channel opens its stream (:func:`lookout.media.ingest.open_stream`: RTSP over TCP,
UDP as fallback), decodes the first two frames (a pair of neighbouring frames, which the frozen
check needs), then only key frames (non-key packets are not even handed to the decoder), up to
``keyframes`` more or ``budget_s`` seconds. The frames go to the video quality diagnosis
(:func:`lookout.health.vqd.diagnose`) with the channel's reference picture when it has one. A
picture found frozen again is compared with the picture the channel's last patrol found frozen
(its snapshot; ``vqd.frozen_since``): only the same picture stays frozen, since a live still scene's
light moves in half an hour, which the few seconds one patrol sees cannot show.

Scheduling (pure, :func:`due_channels`): a channel is due when it was never patrolled or its last
diagnosis is older than its interval (30 min; 10 min for key areas); the most overdue go first.
Channels are patrolled by a thread pool of ``concurrency`` workers (PyAV decodes with the GIL
released; most of a patrol is waiting for key frames), so thousands of channels fit in the interval.

Storing (:func:`store_results`): a ``health_diagnoses`` row per channel, the channel's status
(:mod:`lookout.health.status`), work-order decisions (:mod:`lookout.health.workorders`), one audit
record per run, then events on the bus after commit: ``channel.<id>.status``,
``channel.<id>.diagnosis`` (``{"channel_id", "online", "faults", "scores", "at"}``) and the work-order
events. A snapshot JPEG of a faulty picture is kept under ``<data_dir>/health/snapshots/``.

Preset tour (``preset_tour``, off by default: it moves cameras): a channel whose reference pictures
are named by preset numbers (1–255) and whose camera is reached over GB/T 28181 is patrolled preset
by preset — each is called, the camera given ``preset_settle_s`` to arrive, and its picture judged
against that preset's own reference — then sent back to its first preset. A camera that no longer
reaches a preset shows up as a scene change, which judging against the best-matching view hides.

Settings: environment ``LOOKOUT_PATROL_*`` (see :class:`PatrolConfig`).
"""

from __future__ import annotations

import functools
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import av
import av.error
import cv2
import numpy as np
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lookout.health import status as health_status
from lookout.health import workorders
from lookout.health.models import ChannelReference, ChannelThresholds, DiagnosisRecord, PatrolRun, SiteThresholds
from lookout.media.ingest import ReaderOptions, classify_error, open_stream, redact
from lookout.optional import optional_module
from lookout.registry.models import Channel, Site

log = logging.getLogger(__name__)
Publish = tuple[str, dict[str, Any]]
ACTOR = "patrol"


class PatrolConfig(BaseSettings):
    """Patrol and work-order settings (environment ``LOOKOUT_PATROL_<NAME>``)."""

    model_config = SettingsConfigDict(env_prefix="LOOKOUT_PATROL_", extra="ignore", frozen=True)

    enabled: bool = True
    interval_s: float = 1800.0  # every channel every 30 min
    key_interval_s: float = 600.0  # key areas every 10 min
    tick_s: float = 30.0  # how often the service looks for due channels
    concurrency: int = 16  # channels patrolled at once
    max_per_tick: int = 2000  # channels started per tick (the rest wait for the next)
    keyframes: int = 2  # key frames decoded after the first two frames
    open_timeout: float = 5.0
    read_timeout: float = 5.0
    budget_s: float = 20.0  # wall time per channel, opening included
    stream: str = "main"  # "main" or "sub"
    transport: str = "auto"
    snapshot_faults: bool = True  # keep a JPEG of a faulty picture
    snapshots_per_channel: int = 48  # the newest kept per channel
    keep_diagnoses_days: float = 90.0  # older diagnosis rows are deleted by the daily refresh
    deadline_h: float = 24.0
    key_deadline_h: float = 4.0
    consecutive: int = 2
    daily_refresh_s: float = 600.0
    preset_tour: bool = False  # call each numbered preset over GB/T 28181 and judge it against its own reference
    preset_settle_s: float = 8.0  # after a preset call: the camera turns, zooms and refocuses
    # local hours in which the tour runs ("01-05": from 01:00 to 05:00; "22-06" wraps midnight; "" always):
    # it moves cameras, which operators watching them would not want in the day
    preset_tour_hours: str = ""
    # per fault, the score (0–100) from which it is reported, where the default 50 does not suit;
    # JSON in the environment: LOOKOUT_PATROL_VQD_THRESHOLDS='{"blur": 60, "noise": 70}'
    vqd_thresholds: dict[str, float | None] = {}  # None: the fault is not judged

    @field_validator("preset_tour_hours")
    @classmethod
    def _hours(cls, v: str) -> str:
        tour_window(v)  # raises naming what is wrong
        return v

    @field_validator("vqd_thresholds")
    @classmethod
    def _known_faults(cls, v: dict[str, float | None]) -> dict[str, float | None]:
        from lookout.health.vqd import VqdConfig

        VqdConfig().with_thresholds(v)  # raises naming a fault that does not exist or a value outside 0–100
        return v

    @property
    def vqd(self):  # noqa: ANN201 - a VqdConfig (the diagnosis is imported when first needed)
        from lookout.health.vqd import VqdConfig

        return VqdConfig().with_thresholds(self.vqd_thresholds)

    @property
    def policy(self) -> workorders.Policy:
        return workorders.Policy(deadline_h=self.deadline_h, key_deadline_h=self.key_deadline_h,
                                 consecutive=self.consecutive)


# --------------------------------------------------------------------------- pure logic
def tour_window(hours: str) -> tuple[int, int] | None:
    """``"01-05"`` → (1, 5): from 01:00 up to 05:00 local time; None for "" (any time)."""
    if not hours.strip():
        return None
    start, sep, end = hours.strip().partition("-")
    if not sep or not start.strip().isdigit() or not end.strip().isdigit():
        raise ValueError(f"preset tour hours {hours!r}: write START-END in whole hours, e.g. 01-05")
    a, b = int(start), int(end)
    if not (0 <= a <= 23 and 0 <= b <= 24) or a == b:
        raise ValueError(f"preset tour hours {hours!r}: hours 0–24, start and end differ")
    return a, b


def touring_now(hours: str, local: datetime) -> bool:
    """Whether the preset tour may run at ``local`` time (a window may wrap midnight)."""
    w = tour_window(hours)
    if w is None:
        return True
    a, b = w
    return a <= local.hour < b if a < b else (local.hour >= a or local.hour < b)


def interval_for(key: bool, cfg: PatrolConfig) -> float:
    return cfg.key_interval_s if key else cfg.interval_s


def due_channels(entries: Sequence[tuple[int, bool, datetime | None]], now: datetime, cfg: PatrolConfig) -> list[int]:
    """Channels due for a patrol, most overdue first. ``entries``: (channel id, key area?, last patrol)."""
    due: list[tuple[float, int]] = []
    for cid, key, last in entries:
        if last is None:
            due.append((float("inf"), cid))
            continue
        late = (now - last).total_seconds() - interval_for(key, cfg)
        if late >= 0:
            due.append((late, cid))
    due.sort(key=lambda x: (-x[0], x[1]))
    return [cid for _, cid in due]


# --------------------------------------------------------------------------- decoding and diagnosis
class GrabError(RuntimeError):
    """No picture could be had from the stream; the message says why."""


@dataclass
class Grab:
    frames: list[np.ndarray]
    key_frames: tuple[int, ...]  # which of them were coded as key frames
    packets: int  # packets read from the stream
    transport: str | None


def grab_patrol_frames(url: str, keyframes: int = 2, *, open_timeout: float = 5.0, read_timeout: float = 5.0,
                       budget_s: float = 20.0, transport: str = "auto") -> Grab:
    """The first two frames of the stream, then up to ``keyframes`` key frames (key-frame-only decoding).

    The stream is read as it comes, not as a low-delay viewer reads it: a low-delay read drops the
    packets read while the stream is probed, the first key frame among them, and the patrol would wait
    a whole key-frame interval more. After the pair each key frame is drained from the decoder at once
    and the decoder reset: on a stream with B-frames a decoder holds frames back to reorder them, and
    fed key frames only it would hand out the neighbours of the pair it held, a key frame late.
    """
    opts = ReaderOptions(open_timeout=open_timeout, read_timeout=read_timeout, transport=transport, threads=1,
                         realtime=False)
    started = time.monotonic()
    try:
        container, used = open_stream(url, opts)
    except Exception as exc:
        raise GrabError(classify_error(exc).reason) from exc
    frames: list[np.ndarray] = []
    keys: list[int] = []
    packets = 0
    fed_key = False
    want = 2 + max(0, keyframes)
    try:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        ctx.thread_count = 1

        def drain() -> list:  # the frames the decoder holds back; then it starts afresh
            held = ctx.decode(None)
            ctx.flush_buffers()
            return held

        for packet in container.demux(stream):
            if time.monotonic() - started > budget_s:
                break
            if packet.size == 0:
                continue
            packets += 1
            pair = len(frames) < 2
            if not packet.is_keyframe and (not fed_key or not pair):
                continue  # before the first key frame nothing decodes; after the pair, key frames only
            fed_key = fed_key or bool(packet.is_keyframe)
            try:
                decoded = packet.decode()
                if not pair:  # the key frame now, not when the next packets push it out
                    decoded += drain()
            except av.error.InvalidDataError:
                ctx.flush_buffers()
                continue  # a corrupt packet: wait for the next key frame
            for f in decoded:
                if not pair and not f.key_frame:
                    continue  # a frame of the pair's neighbourhood the decoder held back
                if f.key_frame:
                    keys.append(len(frames))
                frames.append(f.to_ndarray(format="bgr24"))
                if len(frames) == 2:
                    break
            if len(frames) >= 2 and ctx.skip_frame != "NONKEY":
                ctx.skip_frame = "NONKEY"
                drain()  # the frames held back after the pair are not wanted
            if len(frames) >= want:
                break
    except Exception as exc:
        if not frames:
            raise GrabError(classify_error(exc).reason) from exc
        log.info("%s: stream broke after %d frames (%s)", redact(url), len(frames), exc)
    finally:
        try:
            container.close()
        except Exception:
            pass
    if not frames:
        raise GrabError(f"no picture within {budget_s:.0f} s")
    return Grab(frames, tuple(keys), packets, used)


@dataclass(frozen=True)
class Target:
    channel_id: int
    url: str
    key: bool = False
    references: tuple[tuple[str, Path], ...] = ()  # (preset, picture): one per PTZ preset ("": the fixed view); usually one or none
    tour: tuple[tuple[int, Path], ...] = ()  # (preset number, its reference) to call in turn, in number order
    thresholds: dict[str, float | None] = field(default_factory=dict)  # its site's and its own (merged_thresholds), over the deployment's
    frozen_before: Path | None = None  # the picture the channel's last patrol found frozen (frozen_since)


PresetCaller = Callable[[int, int], bool]  # (channel id, preset number) → the camera's device accepted the call
PRESET_NUMBER = re.compile(r"[1-9][0-9]{0,2}")


@dataclass
class PatrolResult:
    channel_id: int
    online: bool
    error: str | None = None
    faults: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    frames: int = 0
    used_reference: bool = False
    reference_preset: str | None = None  # the preset whose reference it was judged against ("": the fixed view)
    snapshot: np.ndarray | None = None
    elapsed_s: float = 0.0


class ReferenceCache:
    """Reference pictures read from disk once per (path, modification time)."""

    def __init__(self) -> None:
        self._items: dict[Path, tuple[float, np.ndarray]] = {}

    def get(self, path: Path | None) -> np.ndarray | None:
        if path is None:
            return None
        try:
            mtime = path.stat().st_mtime
        except OSError:
            log.warning("reference picture %s is missing; diagnosing without it", path)
            return None
        hit = self._items.get(path)
        if hit and hit[0] == mtime:
            return hit[1]
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            log.warning("reference picture %s is unreadable; diagnosing without it", path)
            return None
        self._items[path] = (mtime, img)
        return img


def patrol_channel(target: Target, cfg: PatrolConfig, refs: ReferenceCache | None = None,
                   diagnose: Callable | None = None, call_preset: PresetCaller | None = None) -> PatrolResult:
    """Patrol one channel: grab frames, diagnose them against the channel's reference pictures
    (``diagnose(frames, references, key_frames=…)``; the best-matching one where a PTZ camera has one per preset),
    or, for a target with a preset tour and a ``call_preset``, preset by preset (:func:`_tour`).
    Never raises; failures are in the result."""
    if target.tour and call_preset is not None:
        return _tour(target, cfg, refs or ReferenceCache(), call_preset, diagnose)
    return _patrol_view(target, cfg, refs, diagnose, target.references)


def _tour(target: Target, cfg: PatrolConfig, refs: ReferenceCache, call_preset: PresetCaller,
          diagnose: Callable | None) -> PatrolResult:
    """Each preset of the tour called and judged against its own reference; faults of all presets
    together (scores: the highest per fault), then the camera sent back to the first preset. A preset
    the device refuses is judged where the camera is (so a stuck camera still shows)."""
    t0 = time.monotonic()
    merged: PatrolResult | None = None
    try:
        for number, path in target.tour:
            if not call_preset(target.channel_id, number):
                log.warning("channel %s: preset %s not accepted; judging the view where it is", target.channel_id, number)
            time.sleep(cfg.preset_settle_s)
            r = _patrol_view(target, cfg, refs, diagnose, ((str(number), path),))
            if not r.online or r.error:
                return replace(r, elapsed_s=time.monotonic() - t0)
            if merged is None:
                merged = r
                continue
            merged.faults += [f for f in r.faults if f not in merged.faults]
            merged.scores = {k: max(v, r.scores.get(k, v)) for k, v in merged.scores.items()}
            merged.frames += r.frames
            if merged.snapshot is None and r.snapshot is not None:  # the first faulty preset's picture, and its view
                merged.snapshot, merged.reference_preset = r.snapshot, r.reference_preset
    finally:
        call_preset(target.channel_id, target.tour[0][0])  # home: where the camera is watched from
    assert merged is not None  # a tour has at least one preset
    return replace(merged, elapsed_s=time.monotonic() - t0)


def _patrol_view(target: Target, cfg: PatrolConfig, refs: ReferenceCache | None, diagnose: Callable | None,
                 references: tuple[tuple[str, Path], ...]) -> PatrolResult:
    from lookout.health.vqd import BadFrame, diagnose_views

    config = _vqd_config(target, cfg)
    diagnose = diagnose or functools.partial(diagnose_views, config=config)
    t0 = time.monotonic()
    try:
        grab = grab_patrol_frames(target.url, cfg.keyframes, open_timeout=cfg.open_timeout,
                                  read_timeout=cfg.read_timeout, budget_s=cfg.budget_s, transport=cfg.transport)
    except GrabError as exc:
        return PatrolResult(target.channel_id, False, error=str(exc)[:255], elapsed_s=time.monotonic() - t0)
    except Exception as exc:  # anything else is a bug, but one channel must not stop the patrol
        log.exception("patrol of channel %s failed", target.channel_id)
        return PatrolResult(target.channel_id, False, error=f"{type(exc).__name__}: {exc}"[:255],
                            elapsed_s=time.monotonic() - t0)
    cache = refs or ReferenceCache()
    usable = [(preset, img) for preset, p in references if (img := cache.get(p)) is not None]
    views = [img for _, img in usable]
    try:
        d = diagnose(grab.frames, views, key_frames=grab.key_frames)
        d = _frozen_since(d, target, grab.frames[-1], config)
    except (BadFrame, ValueError) as exc:
        log.warning("channel %s: picture cannot be diagnosed: %s", target.channel_id, exc)
        return PatrolResult(target.channel_id, True, error=f"not diagnosable: {exc}"[:255], frames=len(grab.frames),
                            elapsed_s=time.monotonic() - t0)
    return PatrolResult(target.channel_id, True, faults=list(d.faults),
                        scores={k: round(float(v), 1) for k, v in d.scores.items()}, frames=len(grab.frames),
                        used_reference=bool(views), reference_preset=_judged_against(d, usable),
                        snapshot=grab.frames[-1] if d.faults else None,
                        elapsed_s=time.monotonic() - t0)


def _frozen_since(d: Any, target: Target, now: np.ndarray, config: Any) -> Any:
    """A picture found frozen again is frozen only if it is the one the last patrol found frozen
    (``vqd.frozen_since``): a live still scene's light moves in half an hour."""
    if "frozen" not in d.faults or target.frozen_before is None:
        return d
    before = cv2.imread(str(target.frozen_before), cv2.IMREAD_COLOR)
    if before is None:  # pruned or unreadable: judged on this patrol's frames alone
        return d
    from lookout.health.vqd import frozen_since

    out = frozen_since(d, before, now, config)
    if "frozen" not in out.faults:
        log.info("channel %s: still picture, but not the one the last patrol saw (%.0f %% changed): not frozen",
                 target.channel_id, 100 * out.measures["changed_since"])
    return out


def merged_thresholds(site_own: dict[str, float | None] | None, channel_own: dict[str, float | None] | None
                      ) -> dict[str, float | None]:
    """A channel's thresholds over the deployment's: its site's, and its own where it has them."""
    return {**(site_own or {}), **(channel_own or {})}


def _judged_against(d: object, usable: list[tuple[str, np.ndarray]]) -> str | None:
    """The preset of the reference the diagnosis used (``Diagnosis.reference``, an index into them)."""
    i = getattr(d, "reference", None)
    return usable[i][0] if isinstance(i, int) and 0 <= i < len(usable) else None


def _vqd_config(target: Target, cfg: PatrolConfig):  # noqa: ANN202 - a VqdConfig
    try:
        return cfg.vqd.with_thresholds(target.thresholds)
    except ValueError as exc:  # stored before a fault was renamed: the deployment's thresholds apply
        log.warning("channel %s: its own and its site's thresholds are not used: %s", target.channel_id, exc)
        return cfg.vqd


def run_patrol(targets: Sequence[Target], cfg: PatrolConfig, refs: ReferenceCache | None = None,
               call_preset: PresetCaller | None = None) -> list[PatrolResult]:
    """Patrol the targets with at most ``cfg.concurrency`` at once; results in the targets' order."""
    if not targets:
        return []
    refs = refs or ReferenceCache()
    workers = max(1, min(cfg.concurrency, len(targets)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="patrol") as pool:
        return list(pool.map(lambda t: patrol_channel(t, cfg, refs, call_preset=call_preset), targets))


# --------------------------------------------------------------------------- database adapters
def last_patrols(session: Session, channel_ids: Sequence[int] | None = None) -> dict[int, datetime]:
    stmt = select(DiagnosisRecord.channel_id, func.max(DiagnosisRecord.at)).group_by(DiagnosisRecord.channel_id)
    if channel_ids is not None:
        stmt = stmt.where(DiagnosisRecord.channel_id.in_(list(channel_ids)))
    return dict(session.execute(stmt).all())


def tour_of(presets: Sequence[tuple[str, Path]]) -> tuple[tuple[int, Path], ...]:
    """The presets named by a number 1–255, with their references, in number order."""
    numbered = [(int(name), path) for name, path in presets if PRESET_NUMBER.fullmatch(name) and int(name) <= 255]
    return tuple(sorted(numbered))


def load_targets(session: Session, now: datetime, cfg: PatrolConfig, data_dir: Path, secret: str | None,
                 channel_ids: Sequence[int] | None = None, due_only: bool = True,
                 touring: Callable[[Session, list[int]], set[int]] | None = None) -> tuple[list[Target], list[int]]:
    """Targets to patrol (with URLs, credentials and reference paths) and the ids skipped for having no URL.
    ``touring(session, ids)``: which of them can have their presets called (a preset tour)."""
    from lookout.media.recorder import channel_stream_url

    def of_channels(stmt, column):  # noqa: ANN001, ANN202 - the statement, limited to channel_ids when given
        return stmt if channel_ids is None else stmt.where(column.in_(list(channel_ids)))

    stmt = (select(Channel, Site.key_unit, SiteThresholds.thresholds).join(Site, Site.id == Channel.site_id)
            .outerjoin(SiteThresholds, SiteThresholds.site_id == Channel.site_id).order_by(Channel.id))
    rows = list(session.execute(of_channels(stmt, Channel.id)))
    refs: dict[int, list[tuple[str, Path]]] = {}
    ref_stmt = of_channels(select(ChannelReference.channel_id, ChannelReference.preset, ChannelReference.path),
                           ChannelReference.channel_id)
    for cid, preset, path in session.execute(ref_stmt.order_by(ChannelReference.channel_id, ChannelReference.preset)):
        refs.setdefault(cid, []).append((preset, data_dir / path))
    own_thresholds = dict(session.execute(of_channels(select(ChannelThresholds.channel_id, ChannelThresholds.thresholds),
                                                      ChannelThresholds.channel_id)).all())
    tours = {cid: t for cid, presets in refs.items() if (t := tour_of(presets))}
    if tours and touring is not None:
        reachable = touring(session, list(tours))
        tours = {cid: t for cid, t in tours.items() if cid in reachable}
    else:
        tours = {}
    keyed = {ch.id: (ch, bool(ch.key_area or key_unit)) for ch, key_unit, _ in rows}
    site_thresholds = {ch.id: site_own for ch, _, site_own in rows}
    if due_only:
        last = last_patrols(session, list(keyed))
        order = due_channels([(cid, key, last.get(cid)) for cid, (_, key) in keyed.items()], now, cfg)
    else:
        order = list(keyed)
    frozen_before = frozen_pictures(session, order, data_dir)
    targets, no_url = [], []
    for cid in order:
        ch, key = keyed[cid]
        url = channel_stream_url(ch, cfg.stream, secret)
        if not url:
            no_url.append(cid)
            continue
        targets.append(Target(cid, url, key, tuple(refs.get(cid, ())), tours.get(cid, ()),
                              merged_thresholds(site_thresholds.get(cid), own_thresholds.get(cid)),
                              frozen_before.get(cid)))
    return targets, no_url


def frozen_pictures(session: Session, channel_ids: Sequence[int], data_dir: Path) -> dict[int, Path]:
    """Per channel whose latest diagnosis found its picture frozen, that picture (its snapshot)."""
    latest = workorders.load_recent(session, channel_ids, 1)
    ids = [seen[0].diagnosis_id for seen in latest.values() if seen and "frozen" in seen[0].faults]
    if not ids:
        return {}
    rows = session.execute(select(DiagnosisRecord.channel_id, DiagnosisRecord.snapshot_path)
                           .where(DiagnosisRecord.id.in_(ids), DiagnosisRecord.snapshot_path.is_not(None)))
    return {cid: data_dir / rel for cid, rel in rows}


SNAPSHOT_JPEG = {"quality": 80, "max_width": 960}  # how a faulty picture is kept (and later compared with)


def _save_snapshot(data_dir: Path, channel_id: int, now: datetime, image: np.ndarray, keep: int = 48) -> str | None:
    """Keep a JPEG of a faulty picture; only the newest ``keep`` of a channel stay on disk."""
    from lookout.media.snapshot import encode_jpeg

    rel = Path("health") / "snapshots" / str(channel_id) / f"{now.strftime('%Y%m%dT%H%M%S')}.jpg"
    folder = (data_dir / rel).parent
    try:
        data = encode_jpeg(image, **SNAPSHOT_JPEG)
        folder.mkdir(parents=True, exist_ok=True)
        (data_dir / rel).write_bytes(data)
    except Exception as exc:
        log.warning("could not keep the snapshot of channel %s: %s", channel_id, exc)
        return None
    for old in sorted(folder.glob("*.jpg"))[: -max(1, keep)]:
        unlink_quietly(old)
    return str(rel)


def store_results(session: Session, results: Sequence[PatrolResult], now: datetime, cfg: PatrolConfig,
                  data_dir: Path, trigger: str = "schedule", cpu_s: float | None = None,
                  started_at: datetime | None = None) -> tuple[PatrolRun, list[Publish]]:
    """Write the diagnoses, statuses and work-order decisions of one patrol in the caller's transaction."""
    from lookout.security import audit

    run = PatrolRun(trigger=trigger, started_at=started_at or now, finished_at=now, channels=len(results),
                    online=sum(r.online for r in results), faulty=sum(bool(r.faults) for r in results), cpu_s=cpu_s)
    session.add(run)
    session.flush()
    pubs: list[Publish] = []
    audits: list = []
    channels = {c.id: c for c in session.execute(
        select(Channel).where(Channel.id.in_([r.channel_id for r in results]))).scalars()}
    stored: list[int] = []
    for r in results:
        ch = channels.get(r.channel_id)
        if ch is None:  # deleted while it was patrolled
            continue
        snap = None
        if r.snapshot is not None and cfg.snapshot_faults:
            snap = _save_snapshot(data_dir, ch.id, now, r.snapshot, cfg.snapshots_per_channel)
        faults = r.faults if r.online else [workorders.OFFLINE_FAULT]
        session.add(DiagnosisRecord(channel_id=ch.id, run_id=run.id, at=now, online=r.online, error=r.error,
                                    faults=faults, scores=r.scores, frames=r.frames, used_reference=r.used_reference,
                                    reference_preset=r.reference_preset if r.online else None,
                                    snapshot_path=snap, trigger=trigger, elapsed_s=round(r.elapsed_s, 3)))
        # the camera's state (and so its normal rate) follows the faults that count, as work orders do
        counted = workorders.trusted_faults(r.faults, r.used_reference, cfg.policy)
        st, reason = health_status.status_from_patrol(r.online, r.error, counted)
        ev = health_status.apply_status(session, ch, st, reason, "probe" if not r.online else "patrol", now, audits)
        if ev:
            pubs.append(ev)
        pubs.append((f"channel.{ch.id}.diagnosis", {"channel_id": ch.id, "online": r.online, "faults": faults,
                                                     "scores": r.scores, "error": r.error, "at": now.isoformat()}))
        stored.append(ch.id)
    session.flush()
    audits.append(("patrol", "patrol_run", run.id, None,
                   {"trigger": trigger, "channels": run.channels, "online": run.online, "faulty": run.faulty}))
    audit.record_many(session, ACTOR, audits, now=now)
    pubs += workorders.process_diagnoses(session, stored, now, cfg.policy)
    return run, pubs


def _settling(presets: Any, cfg: PatrolConfig) -> Callable[[int], float]:
    """Seconds until a channel's camera, just sent to a preset from this process (an operator
    calling a turned camera back), has had ``preset_settle_s`` to arrive; 0 for the others
    (``presets``: ``federation.gb28181.presets``, None when not installed)."""
    if presets is None:
        return lambda channel_id: 0.0
    return lambda channel_id: presets.still_settling(channel_id, cfg.preset_settle_s)


def _preset_caller(presets: Any, db_url: str) -> PresetCaller | None:
    """Preset calls for the tour through GB/T 28181 (``federation.gb28181.presets``), audited as the patrol."""
    if presets is None:
        return None

    def call(channel_id: int, number: int) -> bool:
        try:
            # the tour waits for the camera itself (preset_settle_s): not noted as an operator's call
            return presets.send_preset(db_url, channel_id, "call", number, ACTOR, note_call=False).accepted
        except presets.PresetUnreachable as exc:
            log.warning("channel %s: preset %s: %s", channel_id, number, exc)
        except Exception:  # one channel's camera control must not stop the patrol
            log.exception("channel %s: preset %s could not be called", channel_id, number)
        return False

    return call


def _secret(settings: Any) -> str | None:
    try:
        return settings.resolved_secret()
    except RuntimeError:
        return None


def patrol_once(settings: Any, cfg: PatrolConfig | None = None, *, now_fn: Callable[[], datetime] | None = None,
                channel_ids: Sequence[int] | None = None, due_only: bool = True, trigger: str = "schedule",
                refs: ReferenceCache | None = None, limit: int | None = None) -> dict[str, Any]:
    """One patrol: pick the (due) channels, patrol them, store everything, publish. Returns a summary."""
    from lookout.store.base import utcnow
    from lookout.store.db import session_scope

    cfg = cfg or PatrolConfig()
    now_fn = now_fn or utcnow
    data_dir = Path(settings.data_dir)
    gb_presets = optional_module("lookout.federation.gb28181.presets")
    settling = _settling(gb_presets, cfg)
    if trigger == "recheck" and channel_ids:  # a repair just done: wait for the camera, then judge it
        wait = max(settling(cid) for cid in channel_ids)
        if wait > 0:
            log.info("re-check of channel(s) %s waits %.1f s for a preset call to settle", list(channel_ids), wait)
            time.sleep(wait)
    tour = cfg.preset_tour and touring_now(cfg.preset_tour_hours, now_fn().astimezone(ZoneInfo(settings.timezone)))
    presets = gb_presets if tour else None
    with session_scope(settings.db_url) as s:
        targets, no_url = load_targets(s, now_fn(), cfg, data_dir, _secret(settings), channel_ids, due_only,
                                       touring=presets.reachable if presets else None)
    if trigger != "recheck":  # a camera on its way to a preset is patrolled next time, not judged half-turned
        targets = [t for t in targets if settling(t.channel_id) <= 0]
    targets = targets[: limit or cfg.max_per_tick]
    started = now_fn()
    cpu0 = time.process_time()
    results = run_patrol(targets, cfg, refs, call_preset=_preset_caller(presets, settings.db_url))
    cpu = time.process_time() - cpu0
    pubs: list[Publish] = []
    run_id = None
    if results:
        from sqlalchemy.exc import IntegrityError

        for attempt in (1, 2):
            try:
                with session_scope(settings.db_url) as s:
                    run, pubs = store_results(s, results, now_fn(), cfg, data_dir, trigger, cpu, started)
                    run_id = run.id
                break
            except IntegrityError:
                # another patrol (a re-check, the scheduler) opened the same order meanwhile: decide again
                if attempt == 2:
                    raise
                log.info("patrol results met a concurrent write; storing them again")
        health_status.publish(pubs)
    return {"run_id": run_id, "channels": len(results), "online": sum(r.online for r in results),
            "faulty": sum(bool(r.faults) for r in results), "no_url": no_url, "cpu_s": round(cpu, 3),
            "results": [{"channel_id": r.channel_id, "online": r.online, "error": r.error, "faults": r.faults,
                         "scores": r.scores, "frames": r.frames, "elapsed_s": round(r.elapsed_s, 2)}
                        for r in results]}


def escalate_and_refresh(settings: Any, now: datetime, cfg: PatrolConfig | None = None, refresh_daily: bool = True
                         ) -> dict[str, Any]:
    """Escalate overdue orders; refresh yesterday's and today's online history."""
    from zoneinfo import ZoneInfo

    from lookout.health import rates
    from lookout.store.db import session_scope

    cfg = cfg or PatrolConfig()
    with session_scope(settings.db_url) as s:
        pubs = workorders.escalate_overdue(s, now, cfg.policy)
        rows = pruned = 0
        if refresh_daily:
            tz = ZoneInfo(settings.timezone)
            today = rates.local_day(now, tz)
            rows = rates.refresh_daily(s, today - timedelta(days=1), today, now, tz)
            pruned = prune_diagnoses(s, now - timedelta(days=cfg.keep_diagnoses_days))
    health_status.publish(pubs)
    return {"escalated": sum(1 for t, _ in pubs if t.endswith("workorder_escalated")), "daily_rows": rows,
            "pruned_diagnoses": pruned}


def prune_diagnoses(session: Session, before: datetime) -> int:
    """Delete diagnosis rows older than ``before`` (work orders keep their own notes; their links go NULL).

    Derived, high-volume data: not audited row by row; the count is logged.
    """
    from sqlalchemy import delete

    n = session.execute(delete(DiagnosisRecord).where(DiagnosisRecord.at < before)).rowcount or 0
    if n:
        log.info("pruned %d diagnoses older than %s", n, before.isoformat(timespec="seconds"))
    return n


# --------------------------------------------------------------------------- reference pictures
MAX_PRESETS = 8  # reference pictures per channel: each one is a comparison in every patrol
PRESET_NAME = re.compile(r"[^\x00-\x1f/\\]{0,32}")  # a PTZ preset's name or number; "" is the fixed view


class ReferencePictureError(ValueError):
    """A reference picture that cannot be stored."""


class PresetNameError(ReferencePictureError):
    """A preset name that is not allowed."""


class TooManyPresets(ReferencePictureError):
    """A channel that has ``MAX_PRESETS`` reference pictures already."""


def check_preset(session: Session, channel: Channel, preset: str) -> ChannelReference | None:
    """The channel's reference of ``preset`` (None: a new one); raises ``PresetNameError`` for a bad
    name and ``TooManyPresets`` for a ninth preset, before any picture is taken."""
    if not PRESET_NAME.fullmatch(preset) or preset != preset.strip():
        raise PresetNameError(f"preset name {preset!r}: at most 32 characters, no control characters, slashes "
                              "or surrounding spaces")
    ref = _reference_row(session, channel.id, preset)
    if ref is None:
        count = len(session.execute(select(ChannelReference.id).where(ChannelReference.channel_id == channel.id)).all())
        if count >= MAX_PRESETS:
            raise TooManyPresets(f"channel {channel.code} already has {count} reference pictures (at most "
                                 f"{MAX_PRESETS}); replace or delete one")
    return ref


def reference_path(channel_id: int, now: datetime) -> Path:
    stamp = f"{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    return Path("health") / "references" / f"{channel_id}-{stamp}.jpg"


def _reference_row(session: Session, channel_id: int, preset: str) -> ChannelReference | None:
    return session.execute(select(ChannelReference).where(ChannelReference.channel_id == channel_id,
                                                          ChannelReference.preset == preset)).scalar_one_or_none()


def _reference_facts(ref: ChannelReference) -> dict:
    return {"preset": ref.preset, "path": ref.path, "taken_at": ref.taken_at.isoformat(), "taken_by": ref.taken_by}


def set_reference(session: Session, data_dir: Path, channel: Channel, image: np.ndarray, actor: str,
                  now: datetime, preset: str = "") -> tuple[ChannelReference, Path | None]:
    """Store ``image`` as the channel's reference picture for ``preset`` ("" for a fixed view; a
    PTZ camera touring its presets has one per preset) as a JPEG under the data folder; audited.

    Returns the row and the file of the picture it replaces (remove it after the commit).
    Raises ``check_preset``'s errors for a bad preset name or a ninth preset.
    """
    from lookout.media.snapshot import encode_jpeg
    from lookout.security import audit

    ref = check_preset(session, channel, preset)
    rel = reference_path(channel.id, now)
    (data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
    (data_dir / rel).write_bytes(encode_jpeg(image, quality=92))
    before = None
    old_path = None
    if ref is None:
        ref = ChannelReference(channel_id=channel.id, preset=preset, path=str(rel), taken_at=now, taken_by=actor)
        session.add(ref)
    else:
        before = _reference_facts(ref)
        old_path = ref.path
        ref.path, ref.taken_at, ref.taken_by = str(rel), now, actor
    ref.height, ref.width = int(image.shape[0]), int(image.shape[1])
    session.flush()
    audit.record(session, actor, "set_reference", "channel", channel.id, before,
                 {"preset": preset, "path": str(rel), "taken_at": now.isoformat()}, now=now)
    return ref, (data_dir / old_path if old_path and old_path != str(rel) else None)


def clear_reference(session: Session, data_dir: Path, channel: Channel, actor: str, now: datetime,
                    preset: str | None = None) -> list[Path]:
    """Forget the channel's reference picture of ``preset`` (None: all of them), audited; returns
    their files (remove them after the commit), empty when there was none."""
    from lookout.security import audit

    stmt = select(ChannelReference).where(ChannelReference.channel_id == channel.id)
    if preset is not None:
        stmt = stmt.where(ChannelReference.preset == preset)
    files = []
    for ref in session.execute(stmt.order_by(ChannelReference.preset)).scalars():
        before = _reference_facts(ref)
        session.delete(ref)
        audit.record(session, actor, "clear_reference", "channel", channel.id, before, None, now=now)
        files.append(data_dir / before["path"])
    session.flush()
    return files


def unlink_quietly(p: Path | None) -> None:
    if p is None:
        return
    try:
        p.unlink()
    except OSError:
        pass
