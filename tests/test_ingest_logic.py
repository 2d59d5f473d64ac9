"""Pure parts of ingest and probe: backoff, state machine, rate gate, error naming, facts."""

from __future__ import annotations

import random

import av.error
import pytest

from lookout.media.ingest import Backoff, Failure, RateGate, State, StateMachine, classify_error, redact
from lookout.media.probe import PacketInfo, facts_from_packets


def test_backoff_grows_to_the_cap_with_bounded_jitter():
    b = Backoff(initial=1.0, factor=2.0, maximum=30.0, jitter=0.25)
    assert [b.delay(n, 0.5) for n in (1, 2, 3, 4, 5, 6, 7)] == [1, 2, 4, 8, 16, 30, 30]
    rng = random.Random(1)
    delays = [b.delay(3, rng.random()) for _ in range(200)]
    assert min(delays) >= 3.0 and max(delays) <= 5.0
    assert max(delays) - min(delays) > 1.0  # cameras do not retry in step


def test_state_machine_streaming_stalled_offline():
    m = StateMachine(now=0.0, stall_after=5.0, offline_after_failures=2)
    assert m.status.state == State.CONNECTING
    assert m.frame(1.0).state == State.STREAMING
    assert m.frame(1.1) is None  # no change, just counted
    assert m.status.frames == 2
    assert m.tick(4.0) is None
    stalled = m.tick(7.0)
    assert stalled.state == State.STALLED and "no frame for 6 s" in stalled.reason
    m2 = StateMachine(now=0.0)
    m2.frame(1.0)
    s = m2.failed(2.0, Failure("stream ended"))
    assert (s.state, s.reason) == (State.STALLED, "stream ended")
    s = m2.failed(3.0, Failure("connection refused: nothing listens at that address"))
    assert s.state == State.OFFLINE and s.failures == 2 and s.since == 3.0
    assert m2.frame(9.0).state == State.STREAMING and m2.status.failures == 0


def test_first_failures_retry_before_offline_but_definitive_ones_do_not():
    m = StateMachine(now=0.0, offline_after_failures=2)
    s = m.failed(1.0, Failure("timed out: no answer from the camera"))
    assert s.state == State.CONNECTING and s.reason.startswith("timed out")
    assert m.failed(2.0, Failure("timed out: no answer from the camera")).state == State.OFFLINE
    m = StateMachine(now=0.0)
    s = m.failed(1.0, Failure("unauthorized (401): wrong user name or password", definitive=True))
    assert s.state == State.OFFLINE


def test_rate_gate_keeps_the_analysis_rate():
    g = RateGate(5.0)
    times = [i / 25 for i in range(100)]  # 4 s at 25 fps
    kept = [t for t in times if g.take(t)]
    assert len(kept) == 20
    assert all(b - a >= 0.2 - 1e-9 for a, b in zip(kept, kept[1:]))
    assert g.take(0.0)  # time restarted (a new connection): taken at once
    rng = random.Random(2)  # 10 fps with timestamp jitter: every second frame, evenly
    g = RateGate(5.0)
    jittery = [i / 10 + rng.uniform(-0.003, 0.003) for i in range(50)]
    kept = [t for t in jittery if g.take(t)]
    assert len(kept) == 25
    assert all(0.18 < b - a < 0.22 for a, b in zip(kept, kept[1:]))
    assert all(RateGate(None).take(t) for t in times)


def test_errors_are_named_and_passwords_hidden():
    assert classify_error(av.error.HTTPUnauthorizedError(0, "401")).definitive
    assert "404" in classify_error(av.error.HTTPNotFoundError(0, "x")).reason
    assert classify_error(ConnectionRefusedError()).reason.startswith("connection refused")
    assert classify_error(TimeoutError()).reason.startswith("timed out")
    assert "invalid data" in classify_error(av.error.InvalidDataError(0, "x")).reason
    assert redact("failed: 'rtsp://admin:s3cret@10.0.0.1/ch1'") == "failed: 'rtsp://admin:***@10.0.0.1/ch1'"
    assert "s3cret" not in classify_error(OSError("rtsp://admin:s3cret@host/x unreachable")).reason


def test_facts_from_packets():
    # 25 fps, key frame every 50 packets, 20 kB per frame = 4 Mb/s
    pk = [PacketInfo(i / 25, 20_000, i % 50 == 0) for i in range(150)]
    f = facts_from_packets(pk, codec="h264", width=1920, height=1080, declared_fps=25.0)
    assert (f.fps, f.gop, f.keyframe_interval_s) == (25.0, 50, 2.0)
    assert f.bitrate_kbps == pytest.approx(4000, rel=0.01)
    one = facts_from_packets(pk[:1], codec="h264", width=1, height=1, declared_fps=10.0)
    assert one.fps == 10.0 and one.gop is None


def test_status_changes_reach_the_event_bus():
    import asyncio

    from lookout.media.ingest import Status, publish_status
    from lookout.runtime.bus import bus

    async def run():
        sub = bus.subscribe("channel.7.")
        try:
            publish_status(7, "sub")(Status(State.OFFLINE, "stream not found (404)", 1.0, failures=2))
            return await asyncio.wait_for(sub.get(), 2)
        finally:
            sub.close()

    ev = asyncio.run(run())
    assert ev.topic == "channel.7.stream"
    assert ev.payload == {"channel_id": 7, "stream": "sub", "state": "offline", "reason": "stream not found (404)",
                          "failures": 2, "frames": 0}
