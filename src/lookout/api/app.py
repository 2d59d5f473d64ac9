"""Assemble the FastAPI application: every capability's router under /api/v1, health, live events, the UI."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, WebSocket
from fastapi.responses import JSONResponse
from sqlalchemy import text

from lookout import __version__
from lookout.api.live import relay
from lookout.api.ratelimit import SlidingWindowLimiter
from lookout.optional import optional_module
from lookout.settings import Settings, get_settings
from lookout.store.db import get_engine

log = logging.getLogger(__name__)

CAPABILITY_ROUTERS = ("registry", "security", "media", "health", "counting", "safety", "federation")


def create_app(settings: Settings | None = None, services: bool = False) -> FastAPI:
    """The application; with ``services`` it also runs the background services (serve, demo)."""
    settings = settings or get_settings()
    startup_hooks = []
    shutdown_hooks = []

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for hook in startup_hooks:
            await hook(app)
        app.state.ready = True
        yield
        app.state.ready = False
        for hook in reversed(shutdown_hooks):
            await hook(app)

    app = FastAPI(title="Lookout", version=__version__, lifespan=lifespan,
                  description="视频监控联网、设备运维、客流监测与超大客流预警平台 · Video surveillance command platform")
    app.state.settings = settings
    app.state.secret = settings.resolved_secret()
    app.state.login_limiter = SlidingWindowLimiter(settings.login_attempts_per_minute, 60.0)
    app.state.ready = False
    app.state.startup_hooks = startup_hooks
    app.state.shutdown_hooks = shutdown_hooks

    if services:
        from lookout.runtime.supervisor import Supervisor, discover

        supervisor = Supervisor(discover(settings))
        app.state.supervisor = supervisor

        async def _start(_app: FastAPI) -> None:
            supervisor.start()

        async def _stop(_app: FastAPI) -> None:
            await supervisor.stop()

        startup_hooks.append(_start)
        shutdown_hooks.append(_stop)

    for cap in CAPABILITY_ROUTERS:
        mod = optional_module(f"lookout.{cap}.api")
        if mod is not None and hasattr(mod, "router"):
            app.include_router(mod.router, prefix="/api/v1")
        if mod is not None and hasattr(mod, "public_router"):
            app.include_router(mod.public_router)

    @app.get("/healthz", tags=["system"])
    def healthz():
        try:
            with get_engine(settings.db_url).connect() as c:
                c.execute(text("SELECT 1"))
        except Exception as exc:  # the database is the one hard dependency
            return JSONResponse({"status": "unavailable", "reason": f"database: {exc.__class__.__name__}"}, 503)
        if not app.state.ready:
            return JSONResponse({"status": "starting"}, 503)
        return {"status": "ok", "version": __version__}

    @app.websocket("/api/v1/ws")
    async def events(ws: WebSocket):
        """Live events (levels, occupancy, camera states) for what the account may see."""
        await relay(ws, settings.db_url, app.state.secret)

    if services:
        from lookout.safety.live import install as install_safety

        install_safety(app)  # occupancy → warning levels → incidents, actions, outbox, duty

    web = optional_module("lookout.web.app")
    if web is not None and hasattr(web, "mount"):
        web.mount(app, settings)
    return app
