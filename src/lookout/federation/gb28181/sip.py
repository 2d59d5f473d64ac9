"""A small, strict SIP (RFC 3261) message parser and builder: what GB/T 28181 signalling needs.

``parse`` accepts one complete message (a UDP datagram or one TCP frame) and raises ``SipError``
naming what is wrong; the error keeps the headers read so far so that a 400 can still be routed.
No I/O here.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

MAX_MESSAGE_BYTES = 65_535
MAX_HEADERS = 100

# compact header forms (RFC 3261 §7.3.3) → canonical names
COMPACT = {
    "v": "Via", "f": "From", "t": "To", "i": "Call-ID", "m": "Contact", "l": "Content-Length",
    "c": "Content-Type", "e": "Content-Encoding", "k": "Supported", "s": "Subject", "o": "Event",
}
CANONICAL = {n.lower(): n for n in (
    "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Content-Length", "Content-Type", "Max-Forwards",
    "Expires", "Authorization", "WWW-Authenticate", "User-Agent", "Date", "Event", "Subject", "Allow",
    "Warning", "Server", "Supported", "Route", "Record-Route", "Subscription-State",
)}
REQUIRED_REQUEST = ("Via", "From", "To", "Call-ID", "CSeq")
TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
REQUEST_LINE = re.compile(r"^([A-Za-z0-9\-.!%*_+`'~]+) (\S+) SIP/2\.0$")
STATUS_LINE = re.compile(r"^SIP/2\.0 ([1-6]\d\d) ?(.*)$")
REASONS = {
    100: "Trying", 200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 413: "Request Entity Too Large",
    415: "Unsupported Media Type", 481: "Call/Transaction Does Not Exist", 500: "Server Internal Error",
    501: "Not Implemented", 503: "Service Unavailable",
}


class SipError(ValueError):
    """A malformed message; ``partial`` holds what could be read (for routing a 400)."""

    def __init__(self, reason: str, partial: SipMessage | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.partial = partial


@dataclass
class SipMessage:
    method: str | None = None  # requests
    uri: str | None = None
    status: int | None = None  # responses
    reason: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return self.method is not None

    def header(self, name: str) -> str | None:
        key = canonical(name).lower()
        for n, v in self.headers:
            if n.lower() == key:
                return v
        return None

    def headers_all(self, name: str) -> list[str]:
        key = canonical(name).lower()
        return [v for n, v in self.headers if n.lower() == key]

    @property
    def call_id(self) -> str | None:
        return self.header("Call-ID")

    @property
    def cseq(self) -> tuple[int, str] | None:
        v = self.header("CSeq")
        if not v:
            return None
        num, _, meth = v.partition(" ")
        return int(num), meth.strip()

    @property
    def branch(self) -> str | None:
        via = self.header("Via")
        return parse_via(via).params.get("branch") if via else None


def canonical(name: str) -> str:
    n = name.strip()
    if n.lower() in COMPACT:
        return COMPACT[n.lower()]
    return CANONICAL.get(n.lower(), n)


def parse(data: bytes) -> SipMessage:
    """Parse one message; raise SipError with a reason a peer can read."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")  # bare-LF peers
        if not sep:
            raise SipError("no blank line between headers and body")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipError(f"header bytes are not UTF-8 (at byte {exc.start})") from None
    lines = text.replace("\r\n", "\n").split("\n")
    msg = SipMessage()
    start = lines[0].strip()
    m = REQUEST_LINE.match(start)
    if m:
        msg.method, msg.uri = m.group(1).upper(), m.group(2)
        if not msg.uri.lower().startswith(("sip:", "sips:")):
            raise SipError(f"request URI '{msg.uri[:60]}' is not a sip: URI", msg)
    else:
        s = STATUS_LINE.match(start)
        if not s:
            raise SipError(f"bad start line '{start[:80]}'")
        msg.status, msg.reason = int(s.group(1)), s.group(2)
    for raw in lines[1:]:
        if raw[:1] in (" ", "\t"):  # folded continuation
            if not msg.headers:
                raise SipError("continuation line before any header", msg)
            n, v = msg.headers[-1]
            msg.headers[-1] = (n, v + " " + raw.strip())
            continue
        name, colon, value = raw.partition(":")
        if not colon or not TOKEN.match(name.strip() or "?"):
            raise SipError(f"bad header line '{raw[:80]}'", msg)
        msg.headers.append((canonical(name), value.strip()))
        if len(msg.headers) > MAX_HEADERS:
            raise SipError(f"more than {MAX_HEADERS} headers", msg)
    if msg.is_request:
        for h in REQUIRED_REQUEST:
            if not msg.header(h):
                raise SipError(f"missing {h} header", msg)
    cseq = msg.header("CSeq")
    if cseq is not None:
        num, _, meth = cseq.partition(" ")
        if not num.isdigit() or not TOKEN.match(meth.strip() or "?") or len(num) > 10:
            raise SipError(f"bad CSeq '{cseq[:40]}'", msg)
        if msg.is_request and meth.strip().upper() != msg.method:
            raise SipError(f"CSeq method '{meth.strip()}' does not match request method {msg.method}", msg)
    clen = msg.header("Content-Length")
    if clen is not None:
        if not clen.isdigit():
            raise SipError(f"bad Content-Length '{clen[:20]}'", msg)
        n = int(clen)
        if len(body) < n:
            raise SipError(f"body has {len(body)} bytes, Content-Length says {n}", msg)
        body = body[:n]
    msg.body = body
    return msg


# ---- header values -------------------------------------------------------------------------------


@dataclass
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str]


def _params(s: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in s.split(";"):
        p = p.strip()
        if not p:
            continue
        k, _, v = p.partition("=")
        out[k.strip().lower()] = v.strip().strip('"')
    return out


def parse_via(value: str) -> Via:
    first = value.split(",")[0].strip()
    proto, _, rest = first.partition(" ")
    parts = proto.split("/")
    if len(parts) != 3 or parts[0].upper() != "SIP":
        raise SipError(f"bad Via '{value[:60]}'")
    sent_by, _, params = rest.strip().partition(";")
    host, port = _host_port(sent_by.strip())
    return Via(parts[2].upper(), host, port, _params(params))


def _host_port(s: str) -> tuple[str, int | None]:
    if s.startswith("["):
        host, _, rest = s[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    host, _, port = s.partition(":")
    return host, int(port) if port.isdigit() else None


@dataclass
class NameAddr:
    display: str
    uri: str
    params: dict[str, str]

    @property
    def user(self) -> str:
        return uri_user(self.uri)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")


def parse_name_addr(value: str) -> NameAddr:
    """``"name" <sip:user@host>;tag=x`` or ``sip:user@host;tag=x``."""
    v = value.strip()
    if "<" in v:
        display, _, rest = v.partition("<")
        uri, close, params = rest.partition(">")
        if not close:
            raise SipError(f"unclosed '<' in '{value[:60]}'")
        return NameAddr(display.strip().strip('"'), uri.strip(), _params(params))
    uri, _, params = v.partition(";")
    return NameAddr("", uri.strip(), _params(params))


def uri_user(uri: str) -> str:
    """The user part of ``sip:user@host:port;params`` ('' when absent)."""
    rest = uri.split(":", 1)[1] if ":" in uri else uri
    if "@" not in rest:
        return ""
    return rest.split("@", 1)[0]


_AUTH_PARAM = re.compile(r'\s*([A-Za-z0-9_\-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,"][^\s,]*)\s*(?:,|$)')


def parse_auth(value: str) -> tuple[str, dict[str, str]]:
    """``Digest a="b", c=d`` → ("Digest", {"a": "b", "c": "d"}); raises SipError on junk."""
    scheme, _, rest = value.strip().partition(" ")
    params: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        m = _AUTH_PARAM.match(rest, pos)
        if not m:
            raise SipError(f"bad {scheme} parameters near '{rest[pos:pos + 30]}'")
        k, v = m.group(1).lower(), m.group(2)
        if v.startswith('"'):
            v = v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        params[k] = v
        pos = m.end()
    return scheme, params


# ---- building ------------------------------------------------------------------------------------


def new_tag() -> str:
    return secrets.token_hex(6)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


def serialize(start: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    lines = [start]
    lines += [f"{n}: {v}" for n, v in headers if n.lower() != "content-length"]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def build_response(req: SipMessage, status: int, reason: str | None = None,
                   headers: list[tuple[str, str]] | None = None, body: bytes = b"",
                   to_tag: str | None = None) -> bytes:
    """A response that copies Via/From/To/Call-ID/CSeq from the request (adding a To tag when absent)."""
    out: list[tuple[str, str]] = [("Via", v) for v in req.headers_all("Via")]
    for h in ("From", "To", "Call-ID", "CSeq"):
        v = req.header(h)
        if v is None:
            continue
        if h == "To" and status > 100 and to_tag and ";tag=" not in v.replace(" ", ""):
            v = f"{v};tag={to_tag}"
        out.append((h, v))
    out += headers or []
    return serialize(f"SIP/2.0 {status} {reason or REASONS.get(status, 'Unknown')}", out, body)


def build_request(method: str, uri: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    return serialize(f"{method} {uri} SIP/2.0", headers, body)
