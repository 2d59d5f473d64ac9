"""Camera-health test helpers shared by the page and browser tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from lookout.store.db import session_scope


def open_order_by_two_patrols(db_url: str, channel_id: int, faults: list[str], scores: dict[str, float]) -> int:
    """Two patrols in a row finding ``faults`` on a channel, through the work-order rules: the id of
    the order opened for the first fault."""
    from lookout.health import workorders
    from lookout.health.models import DiagnosisRecord, WorkOrder

    now = datetime.now(timezone.utc)
    with session_scope(db_url) as s:
        for k in (2, 1):
            s.add(DiagnosisRecord(channel_id=channel_id, at=now - timedelta(minutes=10 * k), online=True,
                                  faults=faults, scores=scores, frames=3, used_reference=True))
        s.flush()
        workorders.process_diagnoses(s, [channel_id], now)
        return s.execute(select(WorkOrder.id).where(WorkOrder.channel_id == channel_id, WorkOrder.fault == faults[0],
                                                    WorkOrder.status == "open")).scalar_one()
