"""SMS through a gateway. ``SmsGateway`` is the interface an operator's provider implements;
``HttpSmsGateway`` posts {"to", "text"} as JSON to a gateway URL (most domestic providers
offer such an HTTP API; a thin subclass maps to a provider's own fields)."""

from __future__ import annotations

from typing import Protocol

import httpx

from lookout.safety.models import OutboxMessage
from lookout.safety.outbox import DeliveryError


class SmsGateway(Protocol):
    def send(self, to: str, text: str, key: str) -> None:
        """Send one SMS; raise DeliveryError (retryable or not) when it was not accepted."""


class HttpSmsGateway:
    def __init__(self, url: str, api_key: str | None = None, timeout: float = 5.0) -> None:
        self.url, self.api_key = url, api_key
        self.client = httpx.Client(timeout=timeout)

    def send(self, to: str, text: str, key: str) -> None:
        headers = {"Idempotency-Key": key}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            r = self.client.post(self.url, json={"to": to, "text": text}, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"SMS gateway {self.url}: {exc}", retryable=True) from exc
        if r.status_code >= 300:
            raise DeliveryError(f"SMS gateway HTTP {r.status_code}", retryable=r.status_code >= 500 or r.status_code == 429)


class SmsSender:
    def __init__(self, gateway: SmsGateway) -> None:
        self.gateway = gateway

    def __call__(self, msg: OutboxMessage) -> None:
        text = msg.payload.get("text") or msg.payload.get("body") or ""
        if not msg.target or not msg.target.lstrip("+").isdigit():
            raise DeliveryError(f"SMS message {msg.key}: {msg.target!r} is not a phone number", retryable=False)
        self.gateway.send(msg.target, text[:500], msg.key)
