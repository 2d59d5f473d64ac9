"""The default sender for each outbox channel, from the crowd-safety settings."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from lookout.safety.actions.broadcast import BroadcastSender
from lookout.safety.actions.email import SmtpSender
from lookout.safety.actions.sms import HttpSmsGateway, SmsSender
from lookout.safety.actions.webhook import WebhookSender
from lookout.safety.outbox import Sender


class SafetySettings(BaseSettings):
    """Environment ``LOOKOUT_SAFETY_*``."""

    model_config = SettingsConfigDict(env_prefix="LOOKOUT_SAFETY_", extra="ignore")
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "lookout@localhost"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    sms_gateway_url: str | None = None
    sms_api_key: str | None = None
    webhook_timeout_s: float = 5.0
    broadcast_voice: str = "cmn"


def default_senders(data_dir: Path, settings: SafetySettings | None = None) -> dict[str, Sender]:
    st = settings or SafetySettings()
    hook = WebhookSender(timeout=st.webhook_timeout_s)
    senders: dict[str, Sender] = {
        "webhook": hook,
        "ticketing": hook,
        "screen": hook,
        "upward": hook,
        "broadcast": BroadcastSender(data_dir / "broadcast", hook, voice=st.broadcast_voice),
    }
    if st.smtp_host:
        senders["email"] = SmtpSender(st.smtp_host, st.smtp_port, st.smtp_from, st.smtp_user, st.smtp_password, st.smtp_starttls)
    if st.sms_gateway_url:
        senders["sms"] = SmsSender(HttpSmsGateway(st.sms_gateway_url, st.sms_api_key))
    return senders
