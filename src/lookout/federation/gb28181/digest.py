"""HTTP Digest (RFC 2617, MD5, qop=auth) as GB/T 28181 registration uses it. Pure: time is passed in.

Nonces are stateless: the issue time and an HMAC of it under the server's key, so any nonce the
server did not issue is refused and an old one is reported stale (the device retries at once).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass


def md5(s: str) -> str:
    return hashlib.md5(s.encode("utf-8")).hexdigest()  # noqa: S324 - MD5 is what the protocol mandates


def make_nonce(key: bytes, now: float) -> str:
    """``<issue ms, hex>.<8 random hex>`` plus its HMAC: unique per challenge, checkable without state."""
    body = f"{int(now * 1000):x}.{secrets.token_hex(4)}"
    return body + hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:24]


def nonce_age(key: bytes, nonce: str, now: float) -> float | None:
    """Seconds since the nonce was issued, or None when this server did not issue it."""
    body, sig = nonce[:-24], nonce[-24:]
    if not body or len(body) > 32:
        return None
    expect = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:24]
    if not hmac.compare_digest(sig, expect):
        return None
    try:
        return now - int(body.split(".")[0], 16) / 1000
    except ValueError:
        return None


def challenge(realm: str, nonce: str, stale: bool = False) -> str:
    v = f'Digest realm="{realm}", nonce="{nonce}", qop="auth", algorithm=MD5'
    return v + (", stale=TRUE" if stale else "")


def expected_response(username: str, realm: str, password: str, method: str, uri: str, nonce: str,
                      qop: str | None = None, nc: str | None = None, cnonce: str | None = None) -> str:
    ha1 = md5(f"{username}:{realm}:{password}")
    ha2 = md5(f"{method}:{uri}")
    if qop:
        return md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return md5(f"{ha1}:{nonce}:{ha2}")


@dataclass
class Verdict:
    ok: bool
    status: int  # 200 ok, 401 challenge again (stale/forged nonce), 403 refused
    reason: str
    stale: bool = False


def verify(params: dict[str, str], *, method: str, realm: str, username: str, password: str,
           key: bytes, now: float, nonce_ttl_s: float) -> Verdict:
    """Check an Authorization header's parameters against the expected credentials."""
    for p in ("username", "realm", "nonce", "uri", "response"):
        if not params.get(p):
            return Verdict(False, 403, f"Authorization lacks '{p}'")
    if params["username"] != username:
        return Verdict(False, 403, f"Authorization username '{params['username'][:32]}' is not the device ID")
    if params["realm"] != realm:
        return Verdict(False, 403, f"realm '{params['realm'][:32]}' is not this platform's domain {realm}")
    alg = params.get("algorithm", "MD5")
    if alg.upper() != "MD5":
        return Verdict(False, 403, f"algorithm '{alg[:16]}' is not supported (MD5 only)")
    qop = params.get("qop")
    if qop is not None and qop.lower() != "auth":
        return Verdict(False, 403, f"qop '{qop[:16]}' is not supported (auth only)")
    if qop and not (params.get("nc") and params.get("cnonce")):
        return Verdict(False, 403, "qop=auth needs nc and cnonce")
    age = nonce_age(key, params["nonce"], now)
    if age is None:
        return Verdict(False, 401, "nonce was not issued by this server")
    if age > nonce_ttl_s or age < -5:
        return Verdict(False, 401, "nonce is stale", stale=True)
    want = expected_response(username, realm, password, method, params["uri"], params["nonce"],
                             qop.lower() if qop else None, params.get("nc"), params.get("cnonce"))
    if not hmac.compare_digest(want, params["response"].lower()):
        return Verdict(False, 403, "wrong password")
    return Verdict(True, 200, "ok")
