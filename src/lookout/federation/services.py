"""Background services of the federation capability: the GB/T 28181 SIP server."""

from __future__ import annotations

import logging

from lookout.runtime.supervisor import Service
from lookout.settings import Settings

log = logging.getLogger(__name__)


def services(settings: Settings) -> list[Service]:
    from lookout.federation.gb28181.config import load_config
    from lookout.federation.gb28181.server import GbServer

    cfg = load_config(timezone=settings.timezone)
    if not cfg.enabled:
        return []
    try:
        secret = settings.resolved_secret()
    except RuntimeError:
        secret = None
        log.warning("GB/T 28181: no instance secret; per-device passwords cannot be read")
    server = GbServer(cfg, settings.db_url, secret)
    return [Service("gb28181", server.run)]
