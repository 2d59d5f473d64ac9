"""Where the video capability's endpoints are: the live player and snapshots.

Found among the app's routes, so the wall and the O&M page work with or without the video
capability installed: without it, a tile shows the camera's state instead of a picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

PLAYER_JS = "/api/v1/media/player.js"
LIVE_WS = "/api/v1/channels/{channel_id}/live"
SNAPSHOT = "/api/v1/channels/{channel_id}/snapshot.jpg"


def _media_api():
    """The video capability's router module (the app assembly mounts it under /api/v1)."""
    from lookout.web.queries import optional

    return optional("lookout.media.api")


def has_live_view(app: FastAPI) -> bool:
    mod = _media_api()
    return mod is not None and hasattr(mod, "router") and hasattr(mod, "player_js") and hasattr(mod, "live_ws")


def has_snapshots(app: FastAPI) -> bool:
    mod = _media_api()
    return mod is not None and hasattr(mod, "router") and hasattr(mod, "snapshot")


def _has_stream(channel: Any) -> bool:
    return bool(channel.main_url or channel.sub_url)


def snapshot_url(app: FastAPI, channel: Any) -> str | None:
    if not has_snapshots(app) or not _has_stream(channel):
        return None
    return SNAPSHOT.format(channel_id=channel.id)


@dataclass
class Tile:
    id: int
    name: str
    code: str
    status: str
    site_id: int
    snapshot: str | None
    live: bool


def tile(app: FastAPI, channel: Any) -> Tile:
    return Tile(channel.id, channel.name, channel.code, channel.status, channel.site_id,
                snapshot_url(app, channel), has_live_view(app) and _has_stream(channel))
