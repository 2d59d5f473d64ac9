"""`lookout gb28181 serve` and `status --json` as processes, with a sipp device; the background service entry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gb28181_helpers import IPC, DEFAULT_PASSWORD, UdpPeer, free_port, have_sipp, seed, sipp

from lookout.federation.services import services
from lookout.settings import load_settings

LOOKOUT = str(Path(sys.executable).parent / "lookout")


def _wait_until_serving(port: int, proc: subprocess.Popen) -> None:
    peer = UdpPeer(port)
    peer.sock.settimeout(0.3)
    try:
        for _ in range(60):
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {proc.stderr.read()}")
            try:
                peer.send(peer.request("OPTIONS", IPC))
                if peer.recv().startswith("SIP/2.0 200"):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("server did not answer OPTIONS")
    finally:
        peer.close()


@pytest.mark.skipif(not have_sipp(), reason="sipp (Debian package sip-tester) is not installed")
def test_serve_command_admits_a_device_and_status_shows_it(db_url, data_dir):
    seed(db_url)
    port = free_port()
    proc = subprocess.Popen([LOOKOUT, "gb28181", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--password", DEFAULT_PASSWORD, "--no-catalog"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        _wait_until_serving(port, proc)
        run = sipp("keepalive.xml", port, user=IPC, password=DEFAULT_PASSWORD)
        assert run.ok, run.explain()
        time.sleep(0.1)
        from typer.testing import CliRunner

        from lookout.cli import app

        out = CliRunner().invoke(app, ["gb28181", "status", "--json"])
        assert out.exit_code == 0, out.output
        st = json.loads(out.stdout)
        assert st["online"] == 1 and st["devices"][0]["code"] == IPC
        assert st["devices"][0]["address"] == f"127.0.0.1:{run.port}"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, proc.stderr.read()


def test_serve_refuses_a_bad_domain(data_dir):
    from typer.testing import CliRunner

    from lookout.cli import app

    bad = CliRunner().invoke(app, ["gb28181", "serve", "--domain", "12"])
    assert bad.exit_code == 1 and "domain" in bad.output and "10 digits" in bad.output


def test_background_service_entry(monkeypatch, tmp_path):
    s = load_settings(data_dir=tmp_path, secret_key="k" * 32)
    (svc,) = services(s)
    assert svc.name == "gb28181"
    monkeypatch.setenv("LOOKOUT_GB28181_ENABLED", "false")
    assert services(s) == []
