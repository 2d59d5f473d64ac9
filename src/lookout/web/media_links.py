"""Where the video engineer's endpoints are: live view and snapshots, found among the app's routes.

The wall and the O&M page ask here for a channel's live-view or snapshot address; while the
live view is not installed, a tile shows the camera's state instead of a picture.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

_PARAM = re.compile(r"\{(channel_id|channel|id|cid)\}")


def _find(app: FastAPI, *words: str) -> str | None:
    cache = app.state.__dict__.setdefault("_web_media_routes", {})
    key = words
    if key in cache:
        return cache[key]
    found = None
    for r in app.routes:
        path = getattr(r, "path", "")
        methods = getattr(r, "methods", None) or set()
        if "GET" not in methods or not path.startswith("/api/v1/") or not _PARAM.search(path):
            continue
        if all(w in path for w in words):
            found = path
            break
    cache[key] = found
    return found


def _fill(path: str, channel_id: int) -> str:
    return _PARAM.sub(str(channel_id), path, count=1)


def snapshot_url(app: FastAPI, channel: Any) -> str | None:
    path = _find(app, "snapshot")
    return _fill(path, channel.id) if path else None


def has_live_view(app: FastAPI) -> bool:
    return _find(app, "live") is not None


def live_url(app: FastAPI, channel: Any) -> str | None:
    path = _find(app, "live")
    return _fill(path, channel.id) if path else None


@dataclass
class Tile:
    id: int
    name: str
    code: str
    status: str
    site_id: int
    snapshot: str | None
    live: str | None


def tile(app: FastAPI, channel: Any) -> Tile:
    return Tile(channel.id, channel.name, channel.code, channel.status, channel.site_id,
                snapshot_url(app, channel), live_url(app, channel))
