"""Broadcast messages: a Mandarin sound file made with espeak-ng, and the text, for the
site's broadcast system."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path


class BroadcastError(RuntimeError):
    pass


def synthesize(text: str, out_dir: Path, voice: str = "cmn", speed: int = 150) -> Path:
    """Write ``text`` as a WAV file with espeak-ng; the same text gives the same file."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise BroadcastError("espeak-ng is not installed (Debian package espeak-ng)")
    out_dir.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(f"{voice}|{speed}|{text}".encode()).hexdigest()[:16] + ".wav"
    path = out_dir / name
    if path.exists() and path.stat().st_size > 44:
        return path
    tmp = path.with_suffix(".tmp.wav")
    proc = subprocess.run(
        [exe, "-v", voice, "-s", str(speed), "-w", str(tmp), text], capture_output=True, text=True, timeout=60
    )
    if proc.returncode != 0 or not tmp.exists():
        raise BroadcastError(f"espeak-ng failed ({proc.returncode}): {proc.stderr.strip()[:300]}")
    tmp.replace(path)
    return path


class BroadcastSender:
    """Outbox sender for channel ``broadcast``: makes the sound file, then posts the text,
    the file's path and its bytes (base64) to the broadcast system's URL."""

    def __init__(self, out_dir: Path, webhook: object | None = None, voice: str = "cmn") -> None:
        from lookout.safety.actions.webhook import WebhookSender

        self.out_dir, self.voice = out_dir, voice
        self.webhook = webhook or WebhookSender()

    def __call__(self, msg) -> None:  # msg: OutboxMessage
        import base64

        from lookout.safety.outbox import DeliveryError

        text = msg.payload.get("text") or ""
        try:
            wav = synthesize(text, self.out_dir, voice=self.voice)
        except BroadcastError as exc:
            raise DeliveryError(str(exc), retryable=False) from exc
        wav_b64 = base64.b64encode(wav.read_bytes()).decode()
        body = {**msg.payload, "wav_path": str(wav), "wav_base64": wav_b64}

        class _Msg:  # the same message with the sound attached
            key, channel, target, payload = msg.key, msg.channel, msg.target, body

        self.webhook(_Msg)
