"""The device ledger (台账): read CSV/XLSX, validate every row, import idempotently, export.

Validation is pure (rows in, typed rows and row errors out). Import is all-or-nothing unless
``skip_bad``: with any bad row nothing is written and every bad row is reported.
Re-importing the same ledger changes nothing (updates are by GB/T 28181 code).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lookout.registry import gbcode
from lookout.registry.models import Channel, Device, OrgUnit, Site, Zone, default_retention_days
from lookout.security import audit

log = logging.getLogger(__name__)

COLUMNS = ["site", "device_code", "device_type", "channel_code", "channel_name", "rtsp_url",
           "longitude", "latitude", "zone", "resource_class", "key_area"]
CHINESE = {
    "场所名称": "site", "设备编码": "device_code", "设备类型": "device_type", "通道编码": "channel_code",
    "通道名称": "channel_name", "取流地址": "rtsp_url", "经度": "longitude", "纬度": "latitude",
    "区域": "zone", "资源类别": "resource_class", "重点区域": "key_area",
}
CHINESE_OF = {v: k for k, v in CHINESE.items()}
REQUIRED = ("site", "channel_code", "channel_name")

DEVICE_TYPES = {
    "nvr": "nvr", "硬盘录像机": "nvr", "网络硬盘录像机": "nvr", "dvr": "dvr", "ipc": "ipc",
    "网络摄像机": "ipc", "摄像机": "ipc", "camera": "ipc", "encoder": "encoder", "编码器": "encoder",
    "turnstile": "turnstile", "闸机": "turnstile", "wifi_probe": "wifi_probe", "wifi探针": "wifi_probe",
    "led_screen": "led_screen", "led屏": "led_screen", "信息屏": "led_screen", "broadcast": "broadcast",
    "广播": "broadcast",
}
RESOURCE_CLASSES = {"1": 1, "2": 2, "3": 3, "公安": 1, "政府": 2, "社会": 3, "police": 1, "government": 2, "social": 3}
YES = {"是", "yes", "y", "true", "1"}
NO = {"否", "no", "n", "false", "0", ""}


class LedgerFormatError(ValueError):
    """The file as a whole cannot be read (unknown format, no header, missing columns)."""


@dataclass
class RowError:
    row: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


@dataclass
class LedgerRow:
    row: int
    site: str
    channel_code: str
    channel_name: str
    device_code: str | None = None
    device_type: str | None = None
    rtsp_url: str | None = None
    longitude: float | None = None
    latitude: float | None = None
    zone: str | None = None
    resource_class: int = 3
    key_area: bool = False


@dataclass
class ImportResult:
    rows: int
    valid: int
    errors: list[RowError]
    imported: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    written: bool = False
    sites_created: list[str] = field(default_factory=list)

    def as_dict(self, include_imported: bool) -> dict[str, Any]:
        d: dict[str, Any] = {"rows": self.rows, "valid": self.valid, "errors": [e.as_dict() for e in self.errors]}
        if include_imported:
            d.update(imported=self.imported, created=self.created, updated=self.updated, unchanged=self.unchanged)
        return d


# ---------------------------------------------------------------- reading

def _header_key(h: Any) -> str | None:
    h = str(h or "").strip().lstrip("\ufeff")
    if h in CHINESE:
        return CHINESE[h]
    low = h.lower()
    return low if low in COLUMNS else None


def read_rows(path: Path) -> Iterator[dict[str, str]]:
    """Rows as {column: text} with headers normalised; CSV (UTF-8 or GBK) or XLSX."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        yield from _read_xlsx(path)
    elif suffix in (".csv", ".txt"):
        yield from _read_csv(path)
    else:
        raise LedgerFormatError(f"{path.name}: unknown ledger format '{suffix}' (use .csv or .xlsx)")


def _normalise(header: list[Any], rows: Iterable[list[Any]]) -> Iterator[dict[str, str]]:
    keys = [_header_key(h) for h in header]
    missing = [c for c in REQUIRED if c not in keys]
    if missing:
        raise LedgerFormatError(
            "header: missing column(s) " + ", ".join(f"{m} ({CHINESE_OF[m]})" for m in missing)
        )
    for values in rows:
        rec = {}
        for k, v in zip(keys, values):
            if k:
                rec[k] = "" if v is None else str(v).strip()
        yield rec


def _read_csv(path: Path) -> Iterator[dict[str, str]]:
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise LedgerFormatError(f"{path.name}: not UTF-8 or GB18030 text")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise LedgerFormatError(f"{path.name}: empty file, a header row is required")
    yield from _normalise(header, reader)


def _read_xlsx(path: Path) -> Iterator[dict[str, str]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise LedgerFormatError(f"{path.name}: not a readable XLSX workbook ({exc})") from exc
    ws = wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    header = next(it, None)
    if not header:
        raise LedgerFormatError(f"{path.name}: empty sheet, a header row is required")

    def fmt(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer() and abs(v) > 1e15:
            return str(int(v))  # a 20-digit code typed into Excel as a number
        return v

    yield from _normalise(list(header), ([fmt(v) for v in r] for r in it if any(c not in (None, "") for c in r)))
    wb.close()


# ---------------------------------------------------------------- validation (pure)

def _code(value: str, fld: str, n: int, errors: list[RowError]) -> str | None:
    try:
        return str(gbcode.parse(value))
    except gbcode.GBCodeError as exc:
        errors.append(RowError(n, fld, str(exc)))
        return None


def _float(value: str, fld: str, lo: float, hi: float, n: int, errors: list[RowError]) -> float | None:
    if value == "":
        return None
    try:
        f = float(value)
    except ValueError:
        errors.append(RowError(n, fld, f"'{value}' is not a number"))
        return None
    if not lo <= f <= hi:
        errors.append(RowError(n, fld, f"{value} is outside {lo:g}..{hi:g}"))
        return None
    return f


def validate_row(n: int, rec: dict[str, str]) -> tuple[LedgerRow | None, list[RowError]]:
    errors: list[RowError] = []
    for fld in REQUIRED:
        if not rec.get(fld):
            errors.append(RowError(n, fld, "is required"))
    ch_code = _code(rec["channel_code"], "channel_code", n, errors) if rec.get("channel_code") else None
    dev_code = _code(rec["device_code"], "device_code", n, errors) if rec.get("device_code") else None
    dtype = None
    if rec.get("device_type"):
        dtype = DEVICE_TYPES.get(rec["device_type"].lower())
        if dtype is None:
            errors.append(RowError(n, "device_type", f"'{rec['device_type']}' is not a known device type "
                                   f"(NVR, DVR, IPC, encoder, turnstile, wifi_probe, led_screen, broadcast)"))
    url = rec.get("rtsp_url") or None
    if url and not url.lower().startswith(("rtsp://", "rtsps://", "http://", "https://", "rtmp://")):
        errors.append(RowError(n, "rtsp_url", f"'{url}' is not an rtsp:// (or http://) address"))
    lon = _float(rec.get("longitude", ""), "longitude", -180, 180, n, errors)
    lat = _float(rec.get("latitude", ""), "latitude", -90, 90, n, errors)
    rc_text = rec.get("resource_class", "")
    rc = 3
    if rc_text:
        rc_val = RESOURCE_CLASSES.get(rc_text.lower().removesuffix(".0"))
        if rc_val is None:
            errors.append(RowError(n, "resource_class", f"'{rc_text}' must be 1 (公安), 2 (政府) or 3 (社会)"))
        else:
            rc = rc_val
    ka_text = rec.get("key_area", "").lower()
    if ka_text in YES:
        key_area = True
    elif ka_text in NO:
        key_area = False
    else:
        key_area = False
        errors.append(RowError(n, "key_area", f"'{rec.get('key_area')}' must be 是/否 or yes/no"))
    if errors:
        return None, errors
    return LedgerRow(row=n, site=rec["site"], channel_code=ch_code or "", channel_name=rec["channel_name"],
                     device_code=dev_code, device_type=dtype, rtsp_url=url, longitude=lon, latitude=lat,
                     zone=rec.get("zone") or None, resource_class=rc, key_area=key_area), []


def validate(records: Iterable[dict[str, str]]) -> tuple[int, list[LedgerRow], list[RowError]]:
    """All rows checked; duplicates inside the file are errors on the later row."""
    good: list[LedgerRow] = []
    errors: list[RowError] = []
    seen_channels: dict[str, int] = {}
    device_site: dict[str, str] = {}
    n = 0
    for n, rec in enumerate(records, start=1):
        row, errs = validate_row(n, rec)
        if row is not None:
            if row.channel_code in seen_channels:
                errs.append(RowError(n, "channel_code",
                                     f"{row.channel_code} already appears in row {seen_channels[row.channel_code]}"))
            if row.device_code and device_site.setdefault(row.device_code, row.site) != row.site:
                errs.append(RowError(n, "device_code",
                                     f"{row.device_code} is listed under site '{device_site[row.device_code]}' too"))
        if errs:
            errors.extend(errs)
        else:
            seen_channels[row.channel_code] = n
            good.append(row)
    return n, good, errors


# ---------------------------------------------------------------- import (one transaction)

def _district_for_new_sites(session: Session, district_code: str | None) -> OrgUnit:
    from lookout.registry.service import ensure_default_district

    if district_code:
        org = session.execute(select(OrgUnit).where(OrgUnit.division_code == district_code,
                                                    OrgUnit.tier == "district")).scalars().first()
        if org is None:
            raise LedgerFormatError(f"--district: no district with division code {district_code}")
        return org
    return ensure_default_district(session)


def _apply(obj: Any, values: dict[str, Any]) -> dict[str, Any] | None:
    """Set changed attributes; return the before-values of what changed (None when unchanged)."""
    before = {k: getattr(obj, k) for k, v in values.items() if getattr(obj, k) != v}
    for k in before:
        setattr(obj, k, values[k])
    return before or None


def import_ledger(session: Session, path: Path, actor: str, *, dry_run: bool = False, skip_bad: bool = False,
                  district_code: str | None = None) -> ImportResult:
    total, good, errors = validate(read_rows(path))
    result = ImportResult(rows=total, valid=len(good), errors=errors)
    for e in errors:
        log.warning("ledger %s row %d: %s %s", path.name, e.row, e.field, e.message)
    if dry_run or (errors and not skip_bad) or not good:
        return result

    sites = {s.name: s for s in session.execute(select(Site)).scalars()}
    new_site_names = sorted({r.site for r in good} - set(sites))
    entries: list[tuple[str, str, Any, Any, Any]] = []
    if new_site_names:
        org = _district_for_new_sites(session, district_code)
        for name in new_site_names:
            s = Site(name=name, org_unit_id=org.id, category="scenic_area")
            session.add(s)
            sites[name] = s
        session.flush()
        for name in new_site_names:
            entries.append(("create", "site", sites[name].id, None, audit.snapshot(sites[name])))
        result.sites_created = new_site_names

    dev_codes = {r.device_code for r in good if r.device_code}
    devices = {d.code: d for d in session.execute(select(Device).where(Device.code.in_(dev_codes))).scalars()} \
        if dev_codes else {}
    codes = [r.channel_code for r in good]
    channels: dict[str, Channel] = {}
    for i in range(0, len(codes), 900):
        chunk = codes[i:i + 900]
        channels.update({c.code: c for c in session.execute(select(Channel).where(Channel.code.in_(chunk))).scalars()})
    site_ids = {sites[r.site].id for r in good}
    zones = {(z.site_id, z.name): z for z in session.execute(select(Zone).where(Zone.site_id.in_(site_ids))).scalars()}

    new_devices, new_zones = [], []
    for r in good:
        site = sites[r.site]
        if r.device_code and r.device_code not in devices:
            d = Device(site_id=site.id, code=r.device_code, kind=r.device_type or "nvr")
            devices[r.device_code] = d
            new_devices.append(d)
        if r.zone and (site.id, r.zone) not in zones:
            z = Zone(site_id=site.id, name=r.zone)
            zones[(site.id, r.zone)] = z
            new_zones.append(z)
    session.add_all(new_devices + new_zones)
    session.flush()
    entries += [("create", "device", d.id, None, audit.snapshot(d)) for d in new_devices]
    entries += [("create", "zone", z.id, None, audit.snapshot(z)) for z in new_zones]

    for r in good:
        if r.device_code and r.device_type:
            d = devices[r.device_code]
            before = _apply(d, {"kind": r.device_type, "site_id": sites[r.site].id})
            if before and d not in new_devices:
                entries.append(("update", "device", d.id, before, {k: getattr(d, k) for k in before}))

    new_channels: list[Channel] = []
    for r in good:
        site = sites[r.site]
        values = {
            "site_id": site.id, "name": r.channel_name, "main_url": r.rtsp_url,
            "device_id": devices[r.device_code].id if r.device_code else None,
            "zone_id": zones[(site.id, r.zone)].id if r.zone else None,
            "longitude": r.longitude, "latitude": r.latitude, "resource_class": r.resource_class,
            "key_area": r.key_area,
        }
        ch = channels.get(r.channel_code)
        if ch is None:
            ch = Channel(code=r.channel_code, retention_days=default_retention_days(site.category, r.key_area),
                         **values)
            new_channels.append(ch)
            result.created += 1
        else:
            before = _apply(ch, values)
            if before is None:
                result.unchanged += 1
            else:
                result.updated += 1
                if "key_area" in before:
                    ch.retention_days = max(ch.retention_days, default_retention_days(site.category, r.key_area))
                entries.append(("update", "channel", ch.id, before, {k: getattr(ch, k) for k in before}))
    session.add_all(new_channels)
    session.flush()
    entries += [("create", "channel", c.id, None, {"code": c.code, "name": c.name, "site_id": c.site_id,
                                                   "main_url": c.main_url, "resource_class": c.resource_class,
                                                   "key_area": c.key_area}) for c in new_channels]
    audit.record_many(session, actor, entries)
    result.imported = len(good)
    result.written = True
    return result


# ---------------------------------------------------------------- export

def ledger_rows(session: Session) -> Iterator[list[Any]]:
    q = (select(Channel, Site.name, Device.code, Device.kind, Zone.name)
         .join(Site, Channel.site_id == Site.id)
         .outerjoin(Device, Channel.device_id == Device.id)
         .outerjoin(Zone, Channel.zone_id == Zone.id)
         .order_by(Site.name, Channel.code))
    for ch, site, dcode, dkind, zone in session.execute(q):
        yield [site, dcode or "", dkind or "", ch.code, ch.name, ch.main_url or "",
               "" if ch.longitude is None else ch.longitude, "" if ch.latitude is None else ch.latitude,
               zone or "", ch.resource_class, "yes" if ch.key_area else "no"]


def export_ledger(session: Session, path: Path, chinese_headers: bool = False) -> int:
    header = [CHINESE_OF[c] for c in COLUMNS] if chinese_headers else list(COLUMNS)
    n = 0
    tmp = path.with_name(path.name + ".part")
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("ledger")
        ws.append(header)
        for row in ledger_rows(session):
            ws.append([str(v) if i in (1, 3) else v for i, v in enumerate(row)])
            n += 1
        wb.save(tmp)
    elif path.suffix.lower() == ".csv":
        with tmp.open("w", newline="", encoding="utf-8-sig") as f:
            w = csv.writer(f)
            w.writerow(header)
            for row in ledger_rows(session):
                w.writerow(row)
                n += 1
    else:
        raise LedgerFormatError(f"{path.name}: unknown ledger format '{path.suffix}' (use .csv or .xlsx)")
    tmp.replace(path)
    return n
