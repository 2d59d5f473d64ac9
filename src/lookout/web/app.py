"""The operator UI: server-rendered pages (Jinja2) with small vanilla scripts, fully offline.

``mount(app, settings)`` adds the pages, the static files (styles, scripts, vendored
Leaflet and uPlot) and the sign-in redirect to the FastAPI application. Nothing here loads
from outside the platform's own address.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from lookout.security.models import User
from lookout.settings import Settings
from lookout.web import i18n

HERE = Path(__file__).parent
STATIC_URL = "/ui/static"

_env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def localtime(dt: datetime | str | None, tz: str = "Asia/Shanghai", fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time (or an ISO 8601 string, as the JSON answers carry them) in the local zone."""
    if dt is None:
        return "—"
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(ZoneInfo(tz or "Asia/Shanghai")).strftime(fmt)


def pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}%"


def num(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.1f}"
    return f"{v:,}"


def csv_response(rows: list[list[Any]], filename: str) -> Response:
    """Rows as a CSV download Excel opens in Chinese (UTF-8 with a byte-order mark)."""
    buf = io.StringIO()
    buf.write("\ufeff")
    csv.writer(buf).writerows(rows)
    return Response(buf.getvalue().encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def tojson(v: Any) -> Markup:
    s = json.dumps(v, ensure_ascii=False, default=str)
    return Markup(s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


_env.filters.update(localtime=localtime, pct=pct, num=num, tojson=tojson)


def page_user(request: Request, db) -> User:
    from lookout.api.deps import token_from, user_from_token

    user = user_from_token(db, request.app.state.secret, token_from(request))
    if user is None:
        nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(nxt)
    return user


def lang_of(request: Request, user: User | None = None) -> str:
    return i18n.pick_lang(request.query_params.get("lang"), request.cookies.get(i18n.LANG_COOKIE),
                          user.language if user is not None else None)


NAV = (  # key, path, roles that see it (None: everybody)
    ("overview", "/overview", None),
    ("wall", "/wall", None),
    ("alerts", "/alerts", None),
    ("om", "/om", None),
    ("ledger", "/ledger", None),
    ("compliance", "/compliance", None),
    ("settings", "/settings", ("admin", "official", "site_manager")),
)


def with_query(request: Request, **changes: Any) -> str:
    params = dict(request.query_params)
    for k, v in changes.items():
        if v is None or v == "":
            params.pop(k, None)
        else:
            params[k] = str(v)
    q = "&".join(f"{quote(k)}={quote(str(v))}" for k, v in params.items())
    return request.url.path + (f"?{q}" if q else "")


def render(request: Request, template: str, user: User | None, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    lang = lang_of(request, user)
    settings: Settings = request.app.state.settings
    nav = [(k, p) for k, p, roles in NAV if user is not None and (roles is None or user.has_role(roles))]
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    data = dict(
        request=request, user=user, lang=lang, nav=nav, static=STATIC_URL, path=request.url.path,
        t=lambda key, **kw: i18n.t(key, lang, **kw), tz=settings.timezone, reason=lambda text: i18n.reason(text, lang),
        stream_error=lambda text: i18n.stream_error(text, lang),
        i18n_bundle=i18n.bundle(lang), here=here, qs=lambda **kw: with_query(request, **kw),
        other_lang="en" if lang == "zh" else "zh",
    )
    data.update(ctx)
    html = _env.get_template(template).render(**data)
    resp = HTMLResponse(html, status_code=status_code)
    q = i18n.normalise(request.query_params.get("lang"))
    if q:
        resp.set_cookie(i18n.LANG_COOKIE, q, max_age=365 * 86400, samesite="lax")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def check_same_origin(request: Request) -> None:
    """Forms post only from the platform's own pages (the session cookie is SameSite=Lax as well)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin and origin != "null":
        host = urlsplit(origin).netloc
        if host and host != request.headers.get("host"):
            raise HTTPException(403, "cross-site form post refused")


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def mount(app: FastAPI, settings: Settings) -> None:
    from lookout.web import admin, alerts, pages

    app.mount(STATIC_URL, StaticFiles(directory=str(HERE / "static")), name="web-static")
    app.include_router(pages.router, include_in_schema=False)
    app.include_router(alerts.router, include_in_schema=False)
    app.include_router(admin.router, include_in_schema=False)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)
