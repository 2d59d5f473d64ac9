"""Secrets: the instance key, device credentials encrypted at rest, signed session tokens, API keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _secrets
import time
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


def generate_secret() -> str:
    return _secrets.token_urlsafe(48)


def ensure_secret_file(path: Path) -> str:
    """Read the stored secret, creating it (mode 600) when absent."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = generate_secret()
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def _fernet(secret: str) -> Fernet:
    key = hashlib.sha256(("lookout-credentials:" + secret).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret: str, plaintext: str) -> str:
    return _fernet(secret).encrypt(plaintext.encode()).decode()


def decrypt(secret: str, token: str) -> str:
    try:
        return _fernet(secret).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("credential cannot be decrypted with this instance's secret key") from exc


def _sign(secret: str, msg: str) -> str:
    return hmac.new(("lookout-session:" + secret).encode(), msg.encode(), hashlib.sha256).hexdigest()[:40]


def make_token(secret: str, user_id: int, ttl_s: int = 12 * 3600, now: float | None = None) -> str:
    exp = int((now if now is not None else time.time()) + ttl_s)
    msg = f"{user_id}.{exp}"
    return f"{msg}.{_sign(secret, msg)}"


def read_token(secret: str, token: str, now: float | None = None) -> int | None:
    """The user id of a valid, unexpired token, else None."""
    try:
        uid, exp, sig = token.split(".")
        if not hmac.compare_digest(sig, _sign(secret, f"{uid}.{exp}")):
            return None
        if int(exp) < (now if now is not None else time.time()):
            return None
        return int(uid)
    except (ValueError, AttributeError):
        return None


def new_api_key() -> tuple[str, str, str]:
    """(key shown once, its prefix, its sha256) for a machine client."""
    key = "lk_" + _secrets.token_urlsafe(30)
    return key, key[:10], hash_api_key(key)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
