"""MANSCDP (Application/MANSCDP+xml) bodies: keepalive, catalog query/response and catalog events.

Devices declare GB2312 (sometimes wrongly: the bytes are UTF-8); both are accepted. Parsing goes
through defusedxml (no entity expansion, no external entities). Pure, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as DET

CONTENT_TYPE = "Application/MANSCDP+xml"
MAX_BODY_BYTES = 60_000
CATALOG_EVENTS = ("ON", "OFF", "VLOST", "DEFECT", "ADD", "DEL", "UPDATE")
ROOTS = ("Notify", "Query", "Response", "Control")
_DECL = re.compile(rb"^\s*<\?xml[^>]*\?>", re.S)


class ManscdpError(ValueError):
    pass


@dataclass
class CatalogItem:
    device_id: str
    name: str | None = None
    status: str | None = None  # ON / OFF as sent
    event: str | None = None  # in catalog events: ON, OFF, VLOST, DEFECT, ADD, DEL, UPDATE
    parent_id: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    civil_code: str | None = None
    address: str | None = None
    ip_address: str | None = None
    longitude: float | None = None
    latitude: float | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class Manscdp:
    root: str  # Notify, Query, Response, Control
    cmd_type: str
    sn: str
    device_id: str
    fields: dict[str, str] = field(default_factory=dict)  # top-level leaf elements
    sum_num: int | None = None
    list_num: int | None = None
    items: list[CatalogItem] = field(default_factory=list)


def _text(el: Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    t = el.text.strip()
    return t or None


def _coord(v: str | None, lo: float, hi: float) -> float | None:
    try:
        f = float(v) if v is not None else None
    except ValueError:
        return None
    if f is None or f == 0.0 or not (lo <= f <= hi):
        return None
    return f


def _leaf_dict(el: Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in el:
        if len(c):
            out[c.tag] = _leaf_dict(c)
        else:
            out[c.tag] = (c.text or "").strip()
    return out


def _fromstring(body: bytes) -> Element:
    try:
        return DET.fromstring(body)
    except DefusedXmlException as exc:
        raise ManscdpError(f"body refused: {exc.__class__.__name__} (entities and DTDs are not accepted)") from None
    except (DET.ParseError, LookupError, ValueError) as first:
        # a multi-byte declaration expat cannot use (GB2312), or one that lies: decode here, drop it
        decl = _DECL.match(body)
        gb_first = bool(decl and b"gb" in decl.group(0).lower())
        for enc in (("gb18030", "utf-8") if gb_first else ("utf-8", "gb18030")):
            try:
                text = _DECL.sub(b"", body, count=1).decode(enc)
                return DET.fromstring(text)
            except DefusedXmlException as exc:
                raise ManscdpError(f"body refused: {exc.__class__.__name__} (entities and DTDs are not accepted)") from None
            except (UnicodeDecodeError, DET.ParseError, ValueError):
                continue
        raise ManscdpError(f"body is not well-formed XML: {first}") from None


def parse(body: bytes) -> Manscdp:
    if not body.strip():
        raise ManscdpError("empty body")
    if len(body) > MAX_BODY_BYTES:
        raise ManscdpError(f"body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    root = _fromstring(body)
    if root.tag not in ROOTS:
        raise ManscdpError(f"root element <{root.tag[:30]}> is not one of {', '.join(ROOTS)}")
    cmd = _text(root.find("CmdType"))
    if not cmd:
        raise ManscdpError("missing CmdType")
    sn = _text(root.find("SN")) or ""
    if sn and not sn.isdigit():
        raise ManscdpError(f"SN '{sn[:20]}' is not a number")
    device_id = _text(root.find("DeviceID"))
    if not device_id:
        raise ManscdpError("missing DeviceID")
    msg = Manscdp(root.tag, cmd, sn, device_id,
                  fields={c.tag: (c.text or "").strip() for c in root if not len(c)})
    sum_num = _text(root.find("SumNum"))
    if sum_num is not None:
        if not sum_num.isdigit():
            raise ManscdpError(f"SumNum '{sum_num[:20]}' is not a number")
        msg.sum_num = int(sum_num)
    dl = root.find("DeviceList")
    if dl is not None:
        num = dl.get("Num")
        if num is not None:
            if not num.strip().isdigit():
                raise ManscdpError(f"DeviceList Num '{num[:20]}' is not a number")
            msg.list_num = int(num)
        for it in dl.findall("Item"):
            msg.items.append(_item(it))
        if msg.list_num is not None and msg.list_num != len(msg.items):
            raise ManscdpError(f"DeviceList Num={msg.list_num} but {len(msg.items)} Item elements")
    return msg


def _item(it: Element) -> CatalogItem:
    did = _text(it.find("DeviceID"))
    if not did:
        raise ManscdpError("a catalog Item has no DeviceID")
    ev = _text(it.find("Event"))
    if ev is not None:
        ev = ev.upper()
        if ev not in CATALOG_EVENTS:
            raise ManscdpError(f"catalog Item {did[:20]}: unknown Event '{ev[:16]}'")
    status = _text(it.find("Status"))
    return CatalogItem(
        device_id=did, name=_text(it.find("Name")), status=status.upper() if status else None, event=ev,
        parent_id=_text(it.find("ParentID")), manufacturer=_text(it.find("Manufacturer")),
        model=_text(it.find("Model")), civil_code=_text(it.find("CivilCode")),
        address=_text(it.find("Address")), ip_address=_text(it.find("IPAddress")),
        longitude=_coord(_text(it.find("Longitude")), -180, 180),
        latitude=_coord(_text(it.find("Latitude")), -90, 90),
        raw=_leaf_dict(it),
    )


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def catalog_query(sn: int, device_id: str) -> bytes:
    return ('<?xml version="1.0" encoding="GB2312"?>\r\n<Query>\r\n<CmdType>Catalog</CmdType>\r\n'
            f"<SN>{sn}</SN>\r\n<DeviceID>{_esc(device_id)}</DeviceID>\r\n</Query>\r\n").encode("gb2312")


def keepalive(sn: int, device_id: str) -> bytes:
    return ('<?xml version="1.0" encoding="GB2312"?>\r\n<Notify>\r\n<CmdType>Keepalive</CmdType>\r\n'
            f"<SN>{sn}</SN>\r\n<DeviceID>{_esc(device_id)}</DeviceID>\r\n<Status>OK</Status>\r\n"
            "</Notify>\r\n").encode("gb2312")


def ptz_control(sn: int, channel_id: str, ptz_cmd: str, priority: int = 5) -> bytes:
    """A DeviceControl carrying a front-end command (``ptz.encode``) for one channel of a device."""
    return ('<?xml version="1.0" encoding="GB2312"?>\r\n<Control>\r\n<CmdType>DeviceControl</CmdType>\r\n'
            f"<SN>{sn}</SN>\r\n<DeviceID>{_esc(channel_id)}</DeviceID>\r\n<PTZCmd>{_esc(ptz_cmd)}</PTZCmd>\r\n"
            f"<Info>\r\n<ControlPriority>{int(priority)}</ControlPriority>\r\n</Info>\r\n</Control>\r\n").encode("gb2312")


def catalog_response(sn: int, device_id: str, sum_num: int, items: list[dict[str, Any]]) -> bytes:
    """A device's catalog answer (used by tests and the benchmark's simulated devices)."""
    parts = ['<?xml version="1.0" encoding="GB2312"?>', "<Response>", "<CmdType>Catalog</CmdType>",
             f"<SN>{sn}</SN>", f"<DeviceID>{_esc(device_id)}</DeviceID>", f"<SumNum>{sum_num}</SumNum>",
             f'<DeviceList Num="{len(items)}">']
    for it in items:
        parts.append("<Item>" + "".join(f"<{k}>{_esc(str(v))}</{k}>" for k, v in it.items()) + "</Item>")
    parts += ["</DeviceList>", "</Response>", ""]
    return "\r\n".join(parts).encode("gb18030")
