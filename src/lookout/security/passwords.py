"""Salted password hashes (argon2id)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

import os

# Tests and drills may lower the cost (LOOKOUT_ARGON2_MEMORY_KIB, LOOKOUT_ARGON2_TIME_COST); the defaults
# are argon2-cffi's recommended parameters.
_hasher = PasswordHasher(
    time_cost=int(os.environ.get("LOOKOUT_ARGON2_TIME_COST", 3)),
    memory_cost=int(os.environ.get("LOOKOUT_ARGON2_MEMORY_KIB", 65536)),
)


def hash_password(password: str) -> str:
    if not password or len(password) < 6:
        raise ValueError("password: at least 6 characters are required")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
