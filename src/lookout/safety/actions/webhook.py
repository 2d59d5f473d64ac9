"""HTTP webhook sender: POST the payload as JSON with the message key as Idempotency-Key.

Used for notifications to people on duty, the ticketing system (stop/resume sales), LED
and information-screen controllers, broadcast systems and the upward report.
"""

from __future__ import annotations

import httpx

from lookout.safety.models import OutboxMessage
from lookout.safety.outbox import DeliveryError

RETRYABLE_STATUS = {408, 425, 429}


class WebhookSender:
    def __init__(self, timeout: float = 5.0, client: httpx.Client | None = None) -> None:
        self.client = client or httpx.Client(timeout=timeout)

    def __call__(self, msg: OutboxMessage) -> None:
        if not msg.target.startswith(("http://", "https://")):
            raise DeliveryError(f"target {msg.target!r} is not an http(s) URL", retryable=False)
        try:
            r = self.client.post(
                msg.target,
                json=msg.payload,
                headers={"Idempotency-Key": msg.key, "X-Lookout-Channel": msg.channel},
            )
        except httpx.HTTPError as exc:  # refused, reset, timeout, DNS
            raise DeliveryError(f"{msg.target}: {type(exc).__name__}: {exc}", retryable=True) from exc
        if 200 <= r.status_code < 300:
            return
        retryable = r.status_code >= 500 or r.status_code in RETRYABLE_STATUS
        raise DeliveryError(f"{msg.target}: HTTP {r.status_code} {r.text[:200]}", retryable=retryable)

    def close(self) -> None:
        self.client.close()
