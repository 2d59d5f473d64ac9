"""GB/T 28181 20-digit codes: parse, validate and generate.

Layout: division (1–8, GB/T 2260) · industry (9–10) · type (11–13) · network (14) · serial (15–20).
Errors name the bad part so a ledger row can say exactly what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

# GB/T 2260 province-level prefixes
PROVINCES = {
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
    "71", "81", "82",
}

TYPES: dict[str, str] = {
    "111": "DVR", "112": "video server", "113": "encoder", "114": "decoder",
    "115": "video switching matrix", "116": "audio switching matrix", "117": "alarm controller",
    "118": "NVR", "130": "HVR", "131": "camera", "132": "IPC", "133": "display",
    "134": "alarm input", "135": "alarm output", "136": "audio input", "137": "audio output",
    "138": "mobile transmission device", "139": "other peripheral",
    "200": "central signalling server", "201": "web application server", "202": "media distribution server",
    "203": "proxy server", "204": "security server", "205": "alarm server", "206": "database server",
    "207": "GIS server", "208": "management server", "209": "access gateway", "210": "media storage server",
    "211": "signalling security routing gateway", "215": "business group", "216": "virtual organisation",
    "300": "centre user", "400": "terminal user",
}

INDUSTRIES: dict[str, str] = {
    "00": "public order: road", "01": "public order: community", "02": "public order: inside units",
    "03": "public order: other", "04": "traffic: road", "05": "traffic: checkpoint",
    "06": "traffic: inside units", "07": "traffic: other", "08": "city management",
    "09": "health and environment", "10": "commerce and inspection", "11": "education",
    "12": "civil aviation", "13": "railway", "14": "port and shipping",
}

NETWORKS: dict[str, str] = {
    "0": "monitoring private network", "1": "monitoring private network", "2": "monitoring private network",
    "3": "monitoring private network", "4": "monitoring private network",
    "5": "public-security information network", "6": "government network", "7": "internet",
    "8": "social-resource access network",
}

# device kinds of the registry → the type code used when generating a code
KIND_TYPE = {
    "dvr": "111", "encoder": "113", "nvr": "118", "ipc": "132", "camera": "131",
    "turnstile": "139", "wifi_probe": "139", "led_screen": "133", "broadcast": "137", "other": "139",
}


class GBCodeError(ValueError):
    def __init__(self, part: str, message: str) -> None:
        super().__init__(f"{part}: {message}")
        self.part = part
        self.message = message


@dataclass(frozen=True)
class GBCode:
    division: str
    industry: str
    type: str
    network: str
    serial: str

    def __str__(self) -> str:
        return self.division + self.industry + self.type + self.network + self.serial

    def parts(self) -> dict[str, str]:
        return asdict(self)

    @property
    def type_name(self) -> str:
        return TYPES.get(self.type, "unknown")


def split(code: str) -> GBCode:
    """Cut a 20-character string into its parts without judging them."""
    return GBCode(code[0:8], code[8:10], code[10:13], code[13:14], code[14:20])


def check_division(div: str) -> None:
    if len(div) != 8 or not div.isdigit():
        raise GBCodeError("division", f"'{div}' must be 8 digits")
    if div[:2] not in PROVINCES:
        raise GBCodeError("division", f"'{div}': '{div[:2]}' is not a GB/T 2260 province code")
    if div[2:4] == "00" and div[4:8] != "0000":
        raise GBCodeError("division", f"'{div}': a county or unit under city '00' is not plausible")


def parse(code: str) -> GBCode:
    """Validate and parse; raises GBCodeError naming the bad part."""
    if not isinstance(code, str):
        raise GBCodeError("code", "must be a string of 20 digits")
    code = code.strip()
    if len(code) != 20:
        raise GBCodeError("code", f"'{code}' has {len(code)} characters, 20 digits are required")
    if not code.isdigit() or not code.isascii():
        bad = next(i for i, ch in enumerate(code) if not (ch.isascii() and ch.isdigit()))
        part = next(name for name, (a, b) in _SPANS.items() if a <= bad < b)
        raise GBCodeError(part, f"'{code}' has a non-digit '{code[bad]}' at position {bad + 1}")
    g = split(code)
    check_division(g.division)
    if g.type not in TYPES:
        raise GBCodeError("type", f"'{g.type}' is not a known GB/T 28181 type code")
    if g.network not in NETWORKS:
        raise GBCodeError("network", f"'{g.network}' is not a known network code (0–8)")
    return g


_SPANS = {"division": (0, 8), "industry": (8, 10), "type": (10, 13), "network": (13, 14), "serial": (14, 20)}


def check(code: str) -> dict:
    """The `lookout gbcode check --json` answer."""
    try:
        g = parse(code)
        return {"valid": True, "parts": g.parts(), "error": ""}
    except GBCodeError as exc:
        c = code.strip() if isinstance(code, str) else ""
        parts = split(c.ljust(20)).parts() if c else {k: "" for k in _SPANS}
        return {"valid": False, "parts": {k: v.strip() for k, v in parts.items()}, "error": str(exc)}


def is_valid(code: str) -> bool:
    try:
        parse(code)
        return True
    except GBCodeError:
        return False


def next_free(division: str, type_code: str, existing: Iterable[str], industry: str = "00", network: str = "8") -> str:
    """The next unused code with this division/industry/type/network prefix."""
    division = division.ljust(8, "0")[:8]
    check_division(division)
    if type_code not in TYPES:
        raise GBCodeError("type", f"'{type_code}' is not a known GB/T 28181 type code")
    prefix = division + industry + type_code + network
    used = [int(c[14:]) for c in existing if c.startswith(prefix) and c[14:].isdigit()]
    serial = max(used, default=0) + 1
    if serial > 999_999:
        raise GBCodeError("serial", f"no free serial left under prefix {prefix}")
    return f"{prefix}{serial:06d}"
