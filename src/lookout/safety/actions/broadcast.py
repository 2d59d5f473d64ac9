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
