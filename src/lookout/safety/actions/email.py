"""E-mail sender over SMTP (smtplib). Payload: {"to": [...], "subject": str, "body": str}."""

from __future__ import annotations

import smtplib
import socket
from email.message import EmailMessage

from lookout.safety.models import OutboxMessage
from lookout.safety.outbox import DeliveryError


class SmtpSender:
    def __init__(
        self,
        host: str,
        port: int = 25,
        sender: str = "lookout@localhost",
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.starttls, self.timeout = username, password, starttls, timeout

    def build(self, msg: OutboxMessage) -> EmailMessage:
        p = msg.payload
        to = p.get("to") or ([msg.target] if msg.target else [])
        if isinstance(to, str):
            to = [to]
        if not to or not all("@" in a for a in to):
            raise DeliveryError(f"e-mail message {msg.key}: no valid recipient in {to!r}", retryable=False)
        em = EmailMessage()
        em["From"] = self.sender
        em["To"] = ", ".join(to)
        em["Subject"] = p.get("subject", "Lookout")
        em["Message-ID"] = f"<{msg.key.replace(':', '.')}@lookout>"
        em.set_content(p.get("body", ""))
        return em

    def __call__(self, msg: OutboxMessage) -> None:
        em = self.build(msg)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(em)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"SMTP refused recipients: {exc.recipients}", retryable=False) from exc
        except (smtplib.SMTPException, OSError, socket.timeout) as exc:
            raise DeliveryError(f"SMTP {self.host}:{self.port}: {type(exc).__name__}: {exc}", retryable=True) from exc
