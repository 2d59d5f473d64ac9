"""Background service of a running instance: the counting workers of every channel configured
with the "count" analyzer (``lookout serve`` starts it through ``lookout.runtime.supervisor``).
The channel list is re-read every ``refresh_s``; a change restarts the workers."""

from __future__ import annotations

import asyncio
import logging

from lookout.runtime.supervisor import Service
from lookout.settings import Settings

log = logging.getLogger(__name__)


def services(settings: Settings, refresh_s: float = 60.0) -> list[Service]:
    state: dict[str, object] = {}

    def load_jobs():
        from lookout.runtime.pipeline_supervisor import jobs_from_registry
        from lookout.store.db import session_scope

        with session_scope(settings.db_url) as s:
            return jobs_from_registry(s)

    async def run() -> None:
        from lookout.runtime.pipeline_supervisor import PipelineSupervisor

        while True:
            jobs = await asyncio.to_thread(load_jobs)
            key = [j.to_dict() for j in jobs]
            if not jobs:
                await asyncio.sleep(refresh_s)
                continue
            sup = PipelineSupervisor(settings.db_url, jobs)
            state["sup"] = sup
            sup.start()
            log.info("counting %d channel(s)", len(jobs))
            try:
                loop = asyncio.get_running_loop()
                next_check = loop.time() + refresh_s
                while True:
                    await asyncio.to_thread(sup.poll, 1.0)
                    if loop.time() >= next_check:
                        next_check = loop.time() + refresh_s
                        if [j.to_dict() for j in await asyncio.to_thread(load_jobs)] != key:
                            log.info("counting configuration changed: restarting the workers")
                            break
            finally:
                await asyncio.to_thread(sup.stop)
                state.pop("sup", None)

    async def stop() -> None:
        sup = state.get("sup")
        if sup is not None:
            await asyncio.to_thread(sup.stop)  # type: ignore[attr-defined]

    return [Service("counting", run, stop)]
