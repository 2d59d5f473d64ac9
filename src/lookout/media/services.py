"""Background services of the media capability: continuous recording with its janitor and disk guard.

``LOOKOUT_RECORDING_ENABLED=false`` turns recording off for an instance (e.g. a viewing-only node).
"""

from __future__ import annotations

import os

from lookout.runtime.supervisor import Service
from lookout.settings import Settings


def services(settings: Settings) -> list[Service]:
    if os.environ.get("LOOKOUT_RECORDING_ENABLED", "true").lower() in ("0", "false", "no"):
        return []
    from lookout.media.recorder import run_recording_service

    return [Service("recording", lambda: run_recording_service(settings))]
