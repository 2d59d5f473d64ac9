"""Video API: live view (fMP4 over WebSocket), snapshots, recording timeline, playback, export.

Mounted by ``lookout.api.app.create_app`` under ``/api/v1``. Every live view, playback and
export leaves an audit record; the account's scope decides which channels it may see.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from lookout.api.deps import current_user, get_db, require_roles, user_from_token
from lookout.media import live
from lookout.media.export import Seg, export_range, timeline
from lookout.media.models import DiskAlert, RecordingSegment, VideoExport
from lookout.media.recorder import channel_stream_url
from lookout.registry.models import Channel
from lookout.security import audit, scope
from lookout.security.models import User
from lookout.store.db import session_factory

log = logging.getLogger(__name__)
router = APIRouter(tags=["video"])
STATIC = Path(__file__).with_name("static")
EXPORT_ROLES = ("operator", "official", "om_engineer", "site_manager")


# ---------------------------------------------------------------- helpers


def _channel_for(db: Session, user: User, channel_id: int) -> Channel:
    ch = db.get(Channel, channel_id)
    if ch is None or not scope.can_see_channel(user, ch):
        raise HTTPException(404, f"channel {channel_id} not found")
    return ch


def stream_url(ch: Channel, stream: str, secret: str | None) -> str:
    """The channel's main or sub URL, with the device's credentials when the URL has none."""
    if stream not in ("main", "sub"):
        raise HTTPException(422, f"stream must be main or sub, not {stream!r}")
    url = channel_stream_url(ch, stream, secret)
    if not url:
        raise HTTPException(409, f"channel {ch.code} has no stream URL")
    return url


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise HTTPException(422, f"{name} must carry a time zone (e.g. 2026-11-22T10:00:00+08:00)")
    return value.astimezone(timezone.utc)


# ---------------------------------------------------------------- static player, pages


@router.get("/media/player.js", include_in_schema=False)
def player_js() -> FileResponse:
    return FileResponse(STATIC / "live-player.js", media_type="text/javascript")


@router.get("/media/live.html", include_in_schema=False)
def live_page() -> FileResponse:
    """A minimal live page: ?channel=ID&stream=main|sub (embed it in an iframe, or copy its markup)."""
    return FileResponse(STATIC / "live.html", media_type="text/html")


@router.get("/media/wall.html", include_in_schema=False)
def wall_page() -> FileResponse:
    """A video wall: ?channels=1,2,…&stream=sub&mode=live|snapshot&cols=3."""
    return FileResponse(STATIC / "wall.html", media_type="text/html")


@router.get("/media/playback.html", include_in_schema=False)
def playback_page() -> FileResponse:
    """A minimal playback page: ?channel=ID&start=ISO&end=ISO (segments in order, a clickable timeline)."""
    return FileResponse(STATIC / "playback.html", media_type="text/html")


# ---------------------------------------------------------------- live

_LIVE_AUDIT_S = 60.0
_last_live_audit: dict[tuple[str, str, int, str], float] = {}


def _first_view_in_a_while(db_url: str, username: str, channel_id: int, stream: str) -> bool:
    """One audit record per account, channel and stream a minute: a player reconnecting
    after a camera outage (every 2 s) would otherwise flood the log."""
    import time

    key, now = (db_url, username, channel_id, stream), time.monotonic()
    last = _last_live_audit.get(key)
    if last is not None and now - last < _LIVE_AUDIT_S:
        return False
    if len(_last_live_audit) > 10_000:
        _last_live_audit.clear()
    _last_live_audit[key] = now
    return True



@router.websocket("/channels/{channel_id}/live")
async def live_ws(ws: WebSocket, channel_id: int, stream: str = "main") -> None:
    """Live fMP4 of one channel; one ffmpeg per channel/stream shared by all viewers."""
    app = ws.app
    token = ws.cookies.get("lookout_session") or ws.query_params.get("token")
    auth = ws.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    with session_factory(app.state.settings.db_url)() as db:
        user = user_from_token(db, app.state.secret, token)
        if user is None:
            await ws.close(code=4401, reason="not signed in")
            return
        ch = db.get(Channel, channel_id)
        if ch is None or not scope.can_see_channel(user, ch) or stream not in ("main", "sub"):
            await ws.close(code=4404, reason="channel not found")
            return
        try:
            source = stream_url(ch, stream, app.state.secret)
        except HTTPException as exc:
            await ws.close(code=4409, reason=str(exc.detail)[:120])
            return
        if _first_view_in_a_while(app.state.settings.db_url, user.username, ch.id, stream):
            audit.record(db, user.username, "view", "channel", ch.id, after={"live": stream, "channel": ch.code})
            db.commit()
    await ws.accept()
    hub = live.get_hub()

    async def send_text(t: str) -> None:
        await ws.send_text(t)

    async def send_bytes(b: bytes) -> None:
        await ws.send_bytes(b)

    async def until_closed() -> None:
        try:
            while True:
                await ws.receive()
        except (WebSocketDisconnect, RuntimeError):
            return

    pump = asyncio.create_task(live.serve_viewer(hub, f"{channel_id}:{stream}", source, send_text, send_bytes))
    closer = asyncio.create_task(until_closed())
    try:
        done, _ = await asyncio.wait({pump, closer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (pump, closer):
            t.cancel()
        for t in (pump, closer):
            try:
                await t
            except (asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                pass
            except Exception:
                log.exception("live view of channel %s failed", channel_id)
    try:
        await ws.close()
    except (RuntimeError, WebSocketDisconnect):
        pass


@router.get("/channels/{channel_id}/snapshot.jpg", responses={200: {"content": {"image/jpeg": {}}}})
async def snapshot(channel_id: int, request: Request, stream: str = "sub", user: User = Depends(current_user),
                   db: Session = Depends(get_db)) -> Response:
    """A JPEG of the channel's newest key frame (through the shared live stream; a direct grab if that fails)."""
    ch = _channel_for(db, user, channel_id)
    source = stream_url(ch, stream, request.app.state.secret)
    db.close()  # do not hold a connection while the camera answers
    hub = live.get_hub()
    jpeg = await hub.snapshot_jpeg(f"{channel_id}:{stream}", source)
    if jpeg is None:
        try:
            jpeg = await live.snapshot_from_url(source)
        except RuntimeError as exc:
            raise HTTPException(502, str(exc)) from exc
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


# ---------------------------------------------------------------- recordings


@router.get("/channels/{channel_id}/recordings")
def recordings(channel_id: int, start: datetime | None = None, end: datetime | None = None,
               limit: int = Query(2000, ge=1, le=20000), user: User = Depends(current_user),
               db: Session = Depends(get_db)) -> dict:
    """The timeline of a channel: continuous spans and the segments (default: the last 24 h)."""
    _channel_for(db, user, channel_id)
    end = _aware(end, "end") if end else datetime.now(timezone.utc)
    start = _aware(start, "start") if start else end - timedelta(days=1)
    rows = db.execute(select(RecordingSegment).where(
        RecordingSegment.channel_id == channel_id, RecordingSegment.end > start, RecordingSegment.start < end
    ).order_by(RecordingSegment.start).limit(limit)).scalars().all()
    segs = [Seg(r.path, r.start, r.end, r.id, r.bytes) for r in rows]
    return {
        "channel_id": channel_id,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "spans": [s.as_json() for s in timeline(segs)],
        "segments": [{"id": r.id, "start": r.start.isoformat(), "end": r.end.isoformat(), "bytes": r.bytes,
                      "codec": r.codec, "url": f"/api/v1/recordings/{r.id}/file"} for r in rows],
    }


@router.get("/recordings/{segment_id}/file")
def recording_file(segment_id: int, user: User = Depends(current_user), db: Session = Depends(get_db)) -> FileResponse:
    """One segment (fragmented MP4) for playback in a <video> element; audited as a view."""
    seg = db.get(RecordingSegment, segment_id)
    if seg is None:
        raise HTTPException(404, f"segment {segment_id} not found")
    ch = _channel_for(db, user, seg.channel_id)
    if not Path(seg.path).exists():
        raise HTTPException(410, f"segment {segment_id} is no longer on disk")
    audit.record(db, user.username, "view", "channel", ch.id,
                 after={"playback": seg.id, "start": seg.start.isoformat(), "end": seg.end.isoformat()})
    return FileResponse(seg.path, media_type="video/mp4")


class ExportIn(BaseModel):
    start: datetime
    end: datetime
    watermark: bool = Field(False, description="burn the exporter's name and time into the picture (re-encodes)")


def _export_json(row: VideoExport) -> dict:
    return {"id": row.id, "channel_id": row.channel_id, "actor": row.actor, "start": row.start.isoformat(),
            "end": row.end.isoformat(), "watermark": row.watermark, "status": row.status, "bytes": row.bytes,
            "duration_s": row.duration_s, "codec": row.codec, "error": row.error,
            "created_at": row.created_at.isoformat(),
            "url": f"/api/v1/exports/{row.id}/file" if row.status == "done" else None}


@router.post("/channels/{channel_id}/exports", status_code=201)
async def create_export(channel_id: int, body: ExportIn, request: Request,
                        user: User = Depends(require_roles(*EXPORT_ROLES)), db: Session = Depends(get_db)) -> dict:
    """Export a time range as one MP4 (copied, or re-encoded with a watermark); audited."""
    _channel_for(db, user, channel_id)
    start, end = _aware(body.start, "start"), _aware(body.end, "end")
    username, display = user.username, user.display_name or user.username
    db.close()
    settings = request.app.state.settings
    out_dir = Path(settings.data_dir) / "exports"
    row = await asyncio.to_thread(export_range, settings.db_url, channel_id, start, end, username, out_dir,
                                  body.watermark, display)
    if row.status != "done":
        raise HTTPException(422, row.error or "export failed")
    return _export_json(row)


@router.get("/exports/{export_id}")
def get_export(export_id: int, user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict:
    row = db.get(VideoExport, export_id)
    if row is None:
        raise HTTPException(404, f"export {export_id} not found")
    _channel_for(db, user, row.channel_id)
    return _export_json(row)


@router.get("/exports/{export_id}/file")
def export_file(export_id: int, user: User = Depends(current_user), db: Session = Depends(get_db)) -> FileResponse:
    row = db.get(VideoExport, export_id)
    if row is None or row.status != "done" or not row.path:
        raise HTTPException(404, f"export {export_id} not found")
    _channel_for(db, user, row.channel_id)
    if not Path(row.path).exists():
        raise HTTPException(410, f"export {export_id} file is gone")
    audit.record(db, user.username, "download", "video_export", row.id, after={"channel_id": row.channel_id})
    return FileResponse(row.path, media_type="video/mp4", filename=Path(row.path).name)


# ---------------------------------------------------------------- storage


@router.get("/storage/compliance")
def storage_compliance(request: Request, user: User = Depends(current_user),
                       db: Session = Depends(get_db)) -> list[dict]:
    """Per visible channel: days of video on disk against the days required."""
    from lookout.media.storage import compliance_report

    ids = list(db.execute(scope.channel_filter(select(Channel.id), user)).scalars())
    return [r.as_json() for r in compliance_report(request.app.state.settings.db_url, datetime.now(timezone.utc), ids)]


@router.get("/storage/alerts")
def storage_alerts(open_only: bool = True, user: User = Depends(require_roles("om_engineer", "official")),
                   db: Session = Depends(get_db)) -> list[dict]:
    stmt = select(DiskAlert).order_by(DiskAlert.raised_at.desc()).limit(100)
    if open_only:
        stmt = stmt.where(DiskAlert.cleared_at.is_(None))
    return [{"id": a.id, "volume": a.volume, "raised_at": a.raised_at.isoformat(),
             "cleared_at": a.cleared_at.isoformat() if a.cleared_at else None, "free_bytes": a.free_bytes,
             "total_bytes": a.total_bytes, "threshold_percent": a.threshold_percent,
             "deleted_segments": a.deleted_segments, "shortfall_bytes": a.shortfall_bytes, "message": a.message}
            for a in db.execute(stmt).scalars()]


class PolicyIn(BaseModel):
    enabled: bool | None = None
    stream: str | None = None
    segment_seconds: int | None = None
    keep_days: int | None = None
    disk_guard_may_delete: bool | None = None


def _policy_json(pol, channel_id: int | None) -> dict:
    from lookout.media.retention import POLICY_FIELDS

    return {"channel_id": channel_id, **({f: getattr(pol, f) for f in POLICY_FIELDS} if pol else {})}


def _get_policy(db: Session, channel_id: int | None):
    from lookout.media.models import RecordingPolicy

    return db.scalars(select(RecordingPolicy).where(
        RecordingPolicy.channel_id.is_(None) if channel_id is None else RecordingPolicy.channel_id == channel_id)).first()


@router.get("/channels/{channel_id}/recording-policy")
def get_channel_policy(channel_id: int, user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict:
    _channel_for(db, user, channel_id)
    return _policy_json(_get_policy(db, channel_id), channel_id)


@router.put("/channels/{channel_id}/recording-policy")
def put_channel_policy(channel_id: int, body: PolicyIn, user: User = Depends(require_roles("om_engineer")),
                       db: Session = Depends(get_db)) -> dict:
    """Change how a channel is recorded and whether the disk guard may delete its old footage (audited)."""
    from lookout.media.retention import set_policy

    _channel_for(db, user, channel_id)
    try:
        pol = set_policy(db, user.username, channel_id, body.model_dump(exclude_unset=True))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return _policy_json(pol, channel_id)


@router.get("/storage/policy")
def get_global_policy(user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict:
    return _policy_json(_get_policy(db, None), None)


@router.put("/storage/policy")
def put_global_policy(body: PolicyIn, user: User = Depends(require_roles()), db: Session = Depends(get_db)) -> dict:
    """The default for channels without their own policy (admin only; audited)."""
    from lookout.media.retention import set_policy

    try:
        pol = set_policy(db, user.username, None, body.model_dump(exclude_unset=True))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return _policy_json(pol, None)
