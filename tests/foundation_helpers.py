"""Helpers for foundation tests: a seeded registry and signed-in API clients."""

from __future__ import annotations

from fastapi.testclient import TestClient

from lookout.api.app import create_app
from lookout.settings import load_settings


def make_client(data_dir) -> TestClient:
    settings = load_settings(data_dir=data_dir)
    from lookout.bootstrap import initialise

    initialise(settings)
    return TestClient(create_app(settings))


def login(client: TestClient, username: str, password: str) -> dict:
    r = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}
