"""Small helpers shared by the command modules: settings, sessions, JSON output, errors."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console

from lookout.settings import Settings, get_settings

console = Console(stderr=True)


def settings() -> Settings:
    return get_settings()


def db_url() -> str:
    return settings().db_url


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)
