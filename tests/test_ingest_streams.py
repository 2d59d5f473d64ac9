"""Ingest against real streams: the camera simulator (with a password), dead and broken peers.

One simulator (generated scene, 320x240 at 10 fps, GOP 10, RTSP basic auth) per module.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from lookout.media.camsim import CamSim, CamSimError
from lookout.media.ingest import Backoff, ChannelIngest, ReaderOptions, State, StreamReader
from lookout.media.probe import ProbeError, probe_stream
from lookout.media.snapshot import SnapshotError, snapshot_jpeg

pytestmark = [
    pytest.mark.media,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed"),
]

FAST = Backoff(initial=0.2, factor=2.0, maximum=1.0)


@pytest.fixture(scope="module")
def sim():
    try:
        s = CamSim(channels=2, port=0, width=320, height=240, fps=10, gop=10, user="admin", password="s3cret").start()
    except CamSimError as exc:
        pytest.skip(f"GStreamer RTSP server unavailable: {exc}")
    yield s
    s.stop()


def with_password(url: str, password: str = "s3cret") -> str:
    return url.replace("rtsp://", f"rtsp://admin:{password}@")


def take(reader: StreamReader, n: int) -> list:
    out = []
    for frame in reader.frames():
        out.append(frame)
        if len(out) >= n:
            reader.stop()
    return out


def wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_live_stream_streams_at_the_analysis_rate(sim):
    states = []
    reader = StreamReader(with_password(sim.urls[0]), ReaderOptions(analysis_fps=5), on_status=states.append)
    frames = take(reader, 6)
    assert [s.state for s in states] == [State.STREAMING]
    assert reader.status.state == State.STREAMING and reader.status.reason == "receiving frames"
    assert frames[0].image.shape == (240, 320, 3)
    gaps = np.diff([f.time for f in frames])
    assert (gaps >= 0.15).all()  # about 5 of the 10 frames per second are kept
    assert frames[-1].index > len(frames)  # every frame was decoded, only some handed on
    assert reader.stream_info["codec"] == "h264" and reader.transport == "tcp"


def test_keyframe_only_mode_decodes_only_key_frames(sim):
    reader = StreamReader(with_password(sim.urls[0]), ReaderOptions(analysis_fps=None, keyframes_only=True))
    frames = take(reader, 3)
    facts = reader.facts()  # every packet was still received and measured
    assert (facts.codec, facts.width, facts.height, facts.gop) == ("h264", 320, 240, 10)
    assert facts.fps == pytest.approx(10, abs=0.5) and facts.bitrate_kbps > 20
    assert all(f.key for f in frames)
    assert [f.index for f in frames] == [1, 2, 3]  # the decoder produced nothing else
    gaps = np.diff([f.time for f in frames])
    assert np.allclose(gaps, 1.0, atol=0.15)  # one key frame per GOP of 10 at 10 fps
    assert frames[-1].image.mean() > 60  # whole pictures, not grey partial frames


def test_sub_stream_over_udp(sim):
    reader = StreamReader(with_password(sim.url(2, sub=True)), ReaderOptions(analysis_fps=None, transport="udp"))
    frames = take(reader, 3)
    assert frames[0].image.shape == (120, 160, 3)
    assert reader.transport == "udp"


def test_wrong_password_goes_offline_with_the_reason(sim):
    for url in (sim.urls[0], with_password(sim.urls[0], "wrong")):
        reader = StreamReader(url, ReaderOptions(backoff=FAST), max_attempts=1)
        assert take(reader, 1) == []
        assert reader.status.state == State.OFFLINE
        assert reader.status.reason.startswith("unauthorized (401)")


def test_dead_url_goes_offline(sim):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    reader = StreamReader(f"rtsp://127.0.0.1:{port}/ch1", ReaderOptions(backoff=FAST), max_attempts=2)
    assert take(reader, 1) == []
    assert reader.status.state == State.OFFLINE
    assert reader.status.reason.startswith("connection refused")
    assert reader.status.failures == 2
    with pytest.raises(ProbeError, match="connection refused"):
        probe_stream(f"rtsp://127.0.0.1:{port}/ch1")
    with pytest.raises(SnapshotError, match="connection refused"):
        snapshot_jpeg(f"rtsp://127.0.0.1:{port}/ch1")


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A host that accepts connections and never answers (a hung camera)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    conns = []
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"rtsp://127.0.0.1:{srv.getsockname()[1]}/ch1"
    stop.set()
    t.join()
    for c in conns:
        c.close()
    srv.close()


def test_hung_host_times_out_instead_of_hanging(silent_server):
    opts = ReaderOptions(open_timeout=1.0, read_timeout=1.0, transport="tcp", backoff=FAST)
    reader = StreamReader(silent_server, opts, max_attempts=2)
    assert take(reader, 1) == []
    assert reader.status.state == State.OFFLINE
    assert reader.status.reason.startswith("timed out")


@pytest.fixture
def garbage_server() -> Iterator[str]:
    """A peer that answers every request with random bytes (not RTSP)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    stop = threading.Event()
    rng = np.random.default_rng(3)

    def serve():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                continue
            try:
                c.settimeout(1.0)
                c.recv(4096)
                c.sendall(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
            except OSError:
                pass
            finally:
                c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"rtsp://127.0.0.1:{srv.getsockname()[1]}/ch1"
    stop.set()
    t.join()
    srv.close()


def test_garbage_answer_gives_a_clear_state(garbage_server):
    reader = StreamReader(garbage_server, ReaderOptions(open_timeout=2, read_timeout=2, backoff=FAST), max_attempts=2)
    assert take(reader, 1) == []
    assert reader.status.state == State.OFFLINE
    assert reader.status.reason  # named, e.g. "corrupt or unsupported stream (invalid data): …"


def test_corrupt_stream_is_decoded_past_the_damage(tmp_path):
    clip = tmp_path / "clip.ts"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=4",
         "-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p", str(clip)],
        check=True, timeout=60,
    )
    data = bytearray(clip.read_bytes())
    rng = np.random.default_rng(5)
    for start in (len(data) // 3, len(data) // 2, 2 * len(data) // 3):  # three damaged stretches
        data[start : start + 3000] = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    clip.write_bytes(bytes(data))
    reader = StreamReader(str(clip), ReaderOptions(analysis_fps=None, realtime=False, backoff=FAST), max_attempts=1)
    frames = list(reader.frames())
    assert len(frames) > 20  # most of the 40 frames survive
    assert frames[-1].time > 3.0  # decoding went on past the damage to the end
    assert reader.status.state == State.STALLED and reader.status.reason == "stream ended"


def test_offline_fault_then_clear_seen_by_a_running_ingest(sim):
    url = with_password(sim.urls[1])
    opts = ReaderOptions(analysis_fps=2, backoff=FAST, offline_after_failures=1)
    with ChannelIngest(url, opts) as ingest:
        assert ingest.wait_frame(timeout=15) is not None
        assert ingest.status.state == State.STREAMING
        sim.set_fault(2, "offline")
        assert wait_for(lambda: ingest.status.state == State.OFFLINE)
        assert "404" in ingest.status.reason
        sim.set_fault(2, "clear")
        assert wait_for(lambda: ingest.status.state == State.STREAMING)
        last = ingest.latest().index
        assert ingest.wait_frame(after=last, timeout=15) is not None


def test_a_running_ingest_sees_a_fault_switch(sim):
    url = with_password(sim.urls[0])
    with ChannelIngest(url, ReaderOptions(analysis_fps=None)) as ingest:
        first = ingest.wait_frame(timeout=15)
        assert first is not None and first.image.mean() > 60
        sim.set_fault(1, "black")
        try:
            assert wait_for(lambda: ingest.latest().image.mean() < 8, timeout=10)
        finally:
            sim.set_fault(1, "clear")
        assert wait_for(lambda: ingest.latest().image.mean() > 60, timeout=10)


def test_probe_and_snapshot(sim):
    facts = probe_stream(with_password(sim.urls[0]), seconds=2.5)
    assert (facts.codec, facts.width, facts.height) == ("h264", 320, 240)
    assert facts.fps == pytest.approx(10, abs=0.5) and facts.declared_fps == 10
    assert facts.gop == 10 and facts.keyframe_interval_s == pytest.approx(1.0, abs=0.25)  # real time, 2 cores
    assert facts.bitrate_kbps > 20
    jpeg = snapshot_jpeg(with_password(sim.urls[0]))
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (240, 320, 3)
    with pytest.raises(SnapshotError, match="401"):
        snapshot_jpeg(sim.urls[0])


def test_hung_camera_stalls_then_goes_offline_and_recovers(sim):
    """The camera process freezes with its connections open (SIGSTOP): reads time out."""
    import os
    import signal

    url = with_password(sim.urls[0])
    opts = ReaderOptions(analysis_fps=2, open_timeout=2, read_timeout=2, stall_after=2, backoff=FAST)
    states = []
    with ChannelIngest(url, opts, on_status=states.append) as ingest:
        assert ingest.wait_frame(timeout=15) is not None
        os.kill(sim.proc.pid, signal.SIGSTOP)
        try:
            assert wait_for(lambda: ingest.status.state == State.OFFLINE, timeout=30)
        finally:
            os.kill(sim.proc.pid, signal.SIGCONT)
        seen = [s.state for s in states]
        assert seen[0] == State.STREAMING
        assert State.STALLED in seen[: seen.index(State.OFFLINE)], states  # stalled first, then offline
        stalled = next(s for s in states if s.state == State.STALLED)
        assert stalled.reason.startswith(("timed out", "no frame for"))
        assert ingest.status.reason.startswith("timed out")
        assert wait_for(lambda: ingest.status.state == State.STREAMING, timeout=30)
