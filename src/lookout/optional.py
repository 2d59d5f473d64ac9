"""Import a capability's module when it is present (routers, services, tables, UI hooks)."""

from __future__ import annotations

import importlib
from types import ModuleType


def optional_module(name: str) -> ModuleType | None:
    """The module, or None when it (or a package above it) does not exist; other import errors raise."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            return None
        raise
