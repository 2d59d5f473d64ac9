"""Incident reports (JSON and PDF with a CJK font) and the upward report at red.

The upward report carries what seed 001 §5(二)5 asks for when a crowd builds up: the area
where it happens (事发区域), the crowd size (人群规模) and the scope of impact (影响范围),
with the site, the time, the level and the measures taken.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from lookout.registry.models import OrgUnit, Site
from lookout.safety.engine import NAMES_ZH
from lookout.safety.incidents import timeline
from lookout.safety.models import Alert, Incident, PlanItem


def _scope(inc: Incident) -> str:
    if inc.scope:
        return inc.scope
    zones = inc.zones or {}
    if zones:
        busiest = sorted(zones.items(), key=lambda kv: -kv[1])[:3]
        return "景区内" + "、".join(f"{n}({c}人)" for n, c in busiest) + "等区域及周边通景道路"
    return "景区内及周边通景道路"


def incident_report(session: Session, incident_id: int) -> dict[str, Any]:
    inc = session.get(Incident, incident_id)
    if inc is None:
        raise LookupError(f"incident {incident_id} not found")
    site = session.get(Site, inc.site_id)
    items = session.execute(select(PlanItem).where(PlanItem.incident_id == inc.id).order_by(PlanItem.id)).scalars().all()
    alerts = session.execute(select(Alert).where(Alert.incident_id == inc.id).order_by(Alert.id)).scalars().all()
    tl = timeline(session, inc.id)
    return {
        "incident_id": inc.id,
        "site": {"id": site.id, "name": site.name, "address": site.address, "timezone": site.timezone},
        "status": inc.status,
        "drill": inc.drill,
        "opened_at": inc.opened_at.isoformat(),
        "closed_at": inc.closed_at.isoformat() if inc.closed_at else None,
        "peak_level": inc.peak_level,
        "level": inc.level,
        "crowd_size": inc.peak_present,
        "peak_occupancy": {"present": inc.peak_present, "daily": inc.peak_daily, "ratio_percent": inc.peak_ratio},
        "zones": inc.zones or {},
        "scope_of_impact": _scope(inc),
        "level_timeline": [
            {"ts": e.ts.isoformat(), "level": e.level, "measure": e.measure, **(e.detail or {})} for e in tl if e.kind == "level"
        ],
        "timeline": [
            {"ts": e.ts.isoformat(), "kind": e.kind, "level": e.level, "measure": e.measure, "actor": e.actor, "detail": e.detail}
            for e in tl
        ],
        "actions": [
            {
                "level": i.level,
                "key": i.key,
                "text_zh": i.text_zh,
                "text_en": i.text_en,
                "commander": i.commander,
                "auto": i.auto,
                "done_at": i.done_at.isoformat() if i.done_at else None,
                "done_by": i.done_by,
            }
            for i in items
        ],
        "alerts": [
            {
                "id": a.id,
                "tier": a.tier,
                "level": a.level,
                "status": a.status,
                "created_at": a.created_at.isoformat(),
                "acked_at": a.acked_at.isoformat() if a.acked_at else None,
                "acked_by": a.acked_by,
                "ack_seconds": a.ack_seconds,
            }
            for a in alerts
        ],
    }


def upward_report(session: Session, inc: Incident, now: datetime) -> dict[str, Any]:
    """The report to the district emergency command at red (seed 001 §5(二)5)."""
    site = session.get(Site, inc.site_id)
    unit = session.get(OrgUnit, site.org_unit_id)
    done = session.execute(
        select(PlanItem).where(PlanItem.incident_id == inc.id, PlanItem.done_at.is_not(None)).order_by(PlanItem.done_at)
    ).scalars().all()
    zones = inc.zones or {}
    return {
        "type": "upward_report",
        "report_time": now.isoformat(),
        "reporting_unit": site.name,
        "to": unit.name if unit else None,
        "site": {"id": site.id, "name": site.name, "address": site.address, "longitude": site.longitude, "latitude": site.latitude},
        "level": inc.level,
        "level_zh": NAMES_ZH[inc.level],
        "incident_id": inc.id,
        "area": sorted(zones, key=lambda n: -zones[n]) or [site.name],  # 事发区域
        "crowd_size": inc.peak_present,  # 人群规模
        "daily_visitors": inc.peak_daily,
        "occupancy_percent": inc.peak_ratio,
        "scope_of_impact": _scope(inc),  # 影响范围
        "measures_taken": [i.text_zh for i in done],
        "since": inc.opened_at.isoformat(),
    }


_FONT = "STSong-Light"


def _register_font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(_FONT))
    return _FONT


def incident_pdf(report: dict[str, Any]) -> bytes:
    """Render an incident report as PDF (reportlab, the built-in STSong-Light CID font)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = _register_font()
    tz = ZoneInfo(report["site"].get("timezone") or "Asia/Shanghai")

    def local(ts: str | None) -> str:
        return datetime.fromisoformat(ts).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if ts else "—"

    h1 = ParagraphStyle("h1", fontName=font, fontSize=16, leading=22, spaceAfter=6)
    h2 = ParagraphStyle("h2", fontName=font, fontSize=12, leading=18, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("b", fontName=font, fontSize=9, leading=13)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm, bottomMargin=15 * mm,
                            title=f"Incident {report['incident_id']}")
    drill = "(演练 drill)" if report.get("drill") else ""
    flow: list[Any] = [
        Paragraph(f"超大客流事件报告 Crowd incident report {drill}", h1),
        Paragraph(
            f"景区 Site: {report['site']['name']} · 事件编号 Incident: {report['incident_id']} · "
            f"最高等级 Peak level: {NAMES_ZH[report['peak_level']]} ({report['peak_level']})",
            body,
        ),
        Paragraph(f"开始 Opened: {local(report['opened_at'])} · 结束 Closed: {local(report['closed_at'])}", body),
        Paragraph(
            f"人群规模 Crowd size (peak present): {report['peak_occupancy']['present']} · "
            f"当日累计 Day's visitors: {report['peak_occupancy']['daily']} · 最高占比 Peak ratio: {report['peak_occupancy']['ratio_percent']}%",
            body,
        ),
        Paragraph(f"影响范围 Scope of impact: {report['scope_of_impact']}", body),
    ]
    if report["zones"]:
        flow.append(Paragraph("区域峰值 Zone peaks: " + ",".join(f"{k} {v}" for k, v in report["zones"].items()), body))

    def table(rows: list[list[str]], widths: list[float]) -> Table:
        t = Table([[Paragraph(str(c), body) for c in r] for r in rows], colWidths=[w * mm for w in widths], repeatRows=1)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.grey), ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        return t

    flow += [Spacer(1, 4), Paragraph("等级时间线 Level timeline", h2)]
    rows = [["时间 Time", "等级 Level", "指标 Measure", "占比 Ratio %"]]
    rows += [[local(e["ts"]), NAMES_ZH.get(e["level"] or "none", e["level"]), e.get("measure") or "", str(e.get("ratio", ""))] for e in report["level_timeline"]]
    flow.append(table(rows, [45, 40, 45, 40]))
    flow += [Paragraph("处置措施 Actions", h2)]
    rows = [["等级 Level", "措施 Action", "完成 Done", "由 By"]]
    rows += [[a["level"], f"{a['text_zh']}<br/>{a['text_en']}", local(a["done_at"]) if a["done_at"] else "未完成 open", a["done_by"] or ""] for a in report["actions"]]
    flow.append(table(rows, [18, 100, 35, 27]))
    if report["alerts"]:
        flow += [Paragraph("值班告警与确认 Duty alerts", h2)]
        rows = [["层级 Tier", "等级 Level", "发出 Sent", "确认 Acked", "用时 s", "状态 Status"]]
        rows += [[a["tier"], a["level"], local(a["created_at"]), local(a["acked_at"]), f"{a['ack_seconds']:.0f}" if a["ack_seconds"] is not None else "—", a["status"]] for a in report["alerts"]]
        flow.append(table(rows, [22, 20, 38, 38, 20, 30]))
    doc.build(flow)
    return buf.getvalue()
