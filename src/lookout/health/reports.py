"""Patrol reports (巡检报告): what each patrol run found, over the cameras a caller may see.

- :func:`patrol_runs`: runs that diagnosed at least one of the given cameras, newest first, each with
  how many of them it diagnosed, how many delivered a picture and how many had a picture fault. Only
  the requested page's runs are counted (their diagnoses are found by the indexed run).
- :func:`patrol_report`: one run — totals, per site the cameras normal / with a picture fault /
  offline with a count per fault, and each camera's result (offline and faulty first).

``channel_ids`` is a select of the visible channel ids (``security.scope.channel_filter``). Used by
the API (``GET /api/v1/health/patrol-runs``, ``/patrol-runs/{id}``) and the O&M pages.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session

from lookout.health.models import DiagnosisRecord, PatrolRun
from lookout.registry.models import Channel, Site

#: a camera's result in a patrol, in the order a report lists them
OUTCOMES = ("offline", "fault", "normal")


def _faulty() -> Any:
    """SQL: a diagnosis that had a picture and found a fault in it (``faults`` is a JSON list)."""
    return and_(DiagnosisRecord.online.is_(True), func.json_array_length(DiagnosisRecord.faults) > 0)


def outcome(d: DiagnosisRecord) -> str:
    return "offline" if not d.online else "fault" if d.faults else "normal"


def patrol_runs(session: Session, channel_ids: Select, page: int = 1, page_size: int = 30
                ) -> tuple[int, list[tuple[PatrolRun, int, int, int]]]:
    """(how many runs diagnosed a visible camera, the page's runs as (run, cameras, online, faulty))."""
    d = DiagnosisRecord
    seen = select(d.id).where(d.run_id == PatrolRun.id, d.channel_id.in_(channel_ids)).exists()
    total = session.execute(select(func.count()).select_from(PatrolRun).where(seen)).scalar_one()
    runs = list(session.execute(select(PatrolRun).where(seen).order_by(PatrolRun.started_at.desc(), PatrolRun.id.desc())
                                .limit(page_size).offset((max(1, page) - 1) * page_size)).scalars())
    ids = [r.id for r in runs]
    counts = {rid: (n, online, faulty) for rid, n, online, faulty in session.execute(
        select(d.run_id, func.count(), func.sum(case((d.online.is_(True), 1), else_=0)),
               func.sum(case((_faulty(), 1), else_=0)))
        .where(d.run_id.in_(ids), d.channel_id.in_(channel_ids)).group_by(d.run_id))} if ids else {}
    return total, [(r, *counts.get(r.id, (0, 0, 0))) for r in runs]


def patrol_report(session: Session, run_id: int, channel_ids: Select) -> dict[str, Any] | None:
    """``{"run", "total", "sites", "results"}`` (each result: ``diagnosis``, ``camera``, ``site``,
    ``outcome``, ``faults``, ``snapshot``); None when there is no such run or none of its cameras is visible."""
    run = session.get(PatrolRun, run_id)
    if run is None:
        return None
    d = DiagnosisRecord
    rows = session.execute(select(d, Channel, Site.name).join(Channel, Channel.id == d.channel_id)
                           .join(Site, Site.id == Channel.site_id)
                           .where(d.run_id == run.id, d.channel_id.in_(channel_ids))
                           .order_by(Site.name, Channel.code)).all()
    if not rows:
        return None
    sites: dict[int, dict[str, Any]] = {}
    results = []
    for diag, ch, site_name in rows:
        got = outcome(diag)
        g = sites.setdefault(ch.site_id, {"site_id": ch.site_id, "site": site_name, "cameras": 0, "normal": 0,
                                          "fault": 0, "offline": 0, "faults": {}})
        g["cameras"] += 1
        g[got] += 1
        for f in diag.faults if diag.online else ():
            g["faults"][f] = g["faults"].get(f, 0) + 1
        results.append({"diagnosis": diag, "camera": ch, "site": site_name, "outcome": got,
                        "faults": list(diag.faults) if diag.online else [],
                        "snapshot": f"/api/v1/health/diagnoses/{diag.id}/snapshot.jpg" if diag.snapshot_path else None})
    results.sort(key=lambda r: (OUTCOMES.index(r["outcome"]), r["site"], r["camera"].code))
    total = {k: sum(g[k] for g in sites.values()) for k in ("cameras", *OUTCOMES)}
    return {"run": run, "sites": list(sites.values()), "results": results, "total": total}
