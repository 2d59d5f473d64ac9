"""Patrols against the camera simulator: a fault seen in two patrols opens a work order; closing it
triggers a re-check that passes once the fault is gone and re-opens the order while it is not.

The simulator serves the PETS video (real footage: a clean picture for the diagnosis) on two channels.
The clock is controlled: each patrol happens 30 minutes after the previous one.
"""

from __future__ import annotations

import shutil
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from lookout.health import workorders
from lookout.health.models import ChannelStatusChange, DiagnosisRecord, WorkOrder, WorkOrderEscalation
from lookout.health.patrol import PatrolConfig, escalate_and_refresh, grab_patrol_frames, patrol_once
from lookout.media.camsim import CamSim, CamSimError
from lookout.registry import service
from lookout.registry.models import Channel, Device, Site
from lookout.security.models import AuditRecord
from lookout.settings import load_settings
from lookout.store.db import session_scope

pytestmark = [
    pytest.mark.media,
    pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffmpeg/ffprobe not installed"),
]

CFG = PatrolConfig(concurrency=2, keyframes=2, budget_s=15.0, open_timeout=5.0, read_timeout=5.0)


@pytest.fixture(scope="module")
def sim(real_footage):
    try:
        s = CamSim(real_footage, channels=2, port=0, width=384, height=288, fps=10).start()
    except CamSimError as exc:
        pytest.skip(f"GStreamer RTSP server unavailable: {exc}")
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _clear_faults(sim):
    for ch in (1, 2):
        sim.set_fault(ch, "clear")
    yield
    for ch in (1, 2):
        sim.set_fault(ch, "clear")


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw) -> None:
        self.t += timedelta(**kw)


def seed(db_url: str, sim: CamSim) -> dict[str, int]:
    with session_scope(db_url) as s:
        dist = service.create_org_unit(s, "t", "district", "武隆区", "500156")
        site = service.create(s, "t", Site, {"name": "仙女山", "org_unit_id": dist.id, "om_contact": "om_wang"}, "site")
        dev = service.create(s, "t", Device, {"site_id": site.id, "code": "50015600001180000001", "kind": "nvr",
                                              "vendor": "Hikvision"}, "device")
        ids = {"site": site.id}
        for n, key in ((1, True), (2, False)):
            ch = service.create(s, "t", Channel, {"site_id": site.id, "device_id": dev.id, "key_area": key,
                                                  "code": f"5001560000132000000{n}", "name": f"cam{n}",
                                                  "main_url": sim.url(n)}, "channel")
            ids[f"ch{n}"] = ch.id
    return ids


def orders(db_url: str, channel_id: int) -> list[WorkOrder]:
    with session_scope(db_url) as s:
        rows = list(s.execute(select(WorkOrder).where(WorkOrder.channel_id == channel_id)).scalars())
        s.expunge_all()
    return rows


@contextmanager
def registered_nvr(db_url: str, on_ptz):
    """The GB/T 28181 server, and the seeded NVR with both channels as a simulated device registered
    with it (its catalog applied); ``on_ptz(channel code, command)`` turns the simulated cameras."""
    import asyncio

    from gb28181_helpers import running_server, wait_for

    from lookout.federation.gb28181.devsim import SimChannel, SimulatedDevice

    with running_server(db_url) as gb:
        nvr = SimulatedDevice("50015600001180000001", "12345678", ("127.0.0.1", gb.udp_port),
                              [SimChannel("50015600001320000001", "cam1"), SimChannel("50015600001320000002", "cam2")],
                              on_ptz=on_ptz)
        asyncio.run_coroutine_threadsafe(nvr.start(), gb.test_loop).result(20)
        wait_for(lambda: gb.stats["catalogs"] == 1)
        try:
            yield nvr
        finally:
            asyncio.run_coroutine_threadsafe(nvr.stop(), gb.test_loop).result(20)


def test_patrol_decodes_a_pair_then_key_frames_only(sim):
    g = grab_patrol_frames(sim.url(1), keyframes=2, budget_s=15)
    assert len(g.frames) == 4
    assert g.key_frames == (0, 2, 3)  # the first frame and the two key frames after the pair
    assert g.frames[0].shape == (288, 384, 3)


def test_fault_opens_an_order_after_two_patrols_and_the_recheck_passes_once_it_is_gone(sim, data_dir, db_url):
    ids = seed(db_url, sim)
    settings = load_settings(data_dir=data_dir)
    clock = Clock()
    sim.set_fault(1, "dark")

    first = patrol_once(settings, CFG, now_fn=clock)
    assert first["channels"] == 2 and first["online"] == 2
    by_ch = {r["channel_id"]: r for r in first["results"]}
    assert "too_dark" in by_ch[ids["ch1"]]["faults"]
    assert orders(db_url, ids["ch1"]) == []  # one patrol is not enough

    clock.advance(minutes=30)
    patrol_once(settings, CFG, now_fn=clock)
    (order,) = [o for o in orders(db_url, ids["ch1"]) if o.fault == "too_dark"]
    assert order.status == "open" and order.assignee == "om_wang" and order.vendor == "Hikvision"
    assert order.deadline_at - order.opened_at == timedelta(hours=4)  # a key area
    assert all(o.fault != "too_dark" for o in orders(db_url, ids["ch2"]))

    clock.advance(minutes=30)
    patrol_once(settings, CFG, now_fn=clock)  # still dark: no second order for the same fault
    assert len([o for o in orders(db_url, ids["ch1"]) if o.fault == "too_dark"]) == 1

    # the repair: the picture is back; the engineer closes the order; the re-check patrol passes
    sim.set_fault(1, "clear")
    clock.advance(minutes=5)
    with session_scope(db_url) as s:
        workorders.request_close(s, s.get(WorkOrder, order.id), "om_wang", "lens cleaned", clock())
    assert orders(db_url, ids["ch1"])[0].status == "rechecking"
    clock.advance(seconds=10)
    recheck = patrol_once(settings, CFG, now_fn=clock, channel_ids=[ids["ch1"]], due_only=False, trigger="recheck")
    assert "too_dark" not in recheck["results"][0]["faults"]
    done = next(o for o in orders(db_url, ids["ch1"]) if o.id == order.id)
    assert done.status == "closed" and done.recheck_passed is True and done.open_key is None
    assert done.closed_at == clock()

    with session_scope(db_url) as s:
        actions = set(s.execute(select(AuditRecord.action).where(AuditRecord.entity == "work_order")).scalars())
        assert {"open", "close", "recheck_passed"} <= actions
        statuses = [c.status for c in s.execute(select(ChannelStatusChange).where(
            ChannelStatusChange.channel_id == ids["ch1"]).order_by(ChannelStatusChange.id)).scalars()]
        assert statuses[0] == "fault" and statuses[-1] == "online"
        assert s.get(Channel, ids["ch1"]).status == "online"
        stats = workorders.repair_stats(s, "vendor", clock() - timedelta(days=1), clock(), clock())
    (hik,) = [g for g in stats if g["id"] == "Hikvision" and g["closed"]]
    assert hik["mean_h"] == pytest.approx((done.closed_at - done.opened_at).total_seconds() / 3600, abs=1e-3)


def test_closing_while_the_fault_is_still_on_fails_the_recheck_and_reopens(sim, data_dir, db_url):
    ids = seed(db_url, sim)
    settings = load_settings(data_dir=data_dir)
    clock = Clock()
    sim.set_fault(2, "offline")
    for _ in range(2):
        patrol_once(settings, CFG, now_fn=clock, channel_ids=[ids["ch2"]])
        clock.advance(minutes=30)
    (order,) = orders(db_url, ids["ch2"])
    assert order.fault == "offline" and order.deadline_at - order.opened_at == timedelta(hours=24)
    with session_scope(db_url) as s:
        ch = s.get(Channel, ids["ch2"])
        assert ch.status == "offline" and "404" in ch.status_reason
        workorders.request_close(s, s.get(WorkOrder, order.id), "om_wang", "restarted", clock())
    patrol_once(settings, CFG, now_fn=clock, channel_ids=[ids["ch2"]], due_only=False, trigger="recheck")
    (again,) = orders(db_url, ids["ch2"])
    assert again.status == "open" and again.recheck_passed is False and again.reopen_count == 1
    assert "still shows no picture" in again.recheck_note

    # overdue: escalated once per level, with a record
    clock.advance(hours=25)
    assert escalate_and_refresh(settings, clock(), CFG)["escalated"] == 1
    assert escalate_and_refresh(settings, clock(), CFG)["escalated"] == 0
    with session_scope(db_url) as s:
        o = s.get(WorkOrder, order.id)
        assert o.escalated and o.escalation_level == 1
        (esc,) = s.execute(select(WorkOrderEscalation)).scalars()
        assert esc.assignee == "om_wang" and esc.overdue_s == pytest.approx(5400)
        assert s.execute(select(DiagnosisRecord).where(DiagnosisRecord.channel_id == ids["ch2"])).scalars().all()


def test_a_picture_frozen_at_a_constant_bit_rate_opens_an_order(sim, data_dir, db_url):
    """The simulator codes at a constant bit rate without a deblocking filter (x264 "ultrafast",
    200 kbit/s here): a frozen picture's frames differ by coding alone, key frames starting
    coarse and P-frames refining it block by block."""
    ids = seed(db_url, sim)
    settings = load_settings(data_dir=data_dir)
    clock = Clock()
    sim.set_fault(2, "freeze")
    time.sleep(1.0)
    for _ in range(2):
        run = patrol_once(settings, CFG, now_fn=clock)
        by_ch = {r["channel_id"]: r for r in run["results"]}
        assert "frozen" in by_ch[ids["ch2"]]["faults"], by_ch[ids["ch2"]]
        assert "frozen" not in by_ch[ids["ch1"]]["faults"], by_ch[ids["ch1"]]  # people walking, same coding
        clock.advance(minutes=30)
    # the second patrol saw the very picture the first one kept: an order
    (order,) = [o for o in orders(db_url, ids["ch2"]) if o.fault == "frozen"]
    assert order.status == "open"


def test_reference_from_the_stream_the_scheduler_and_the_cli(sim, data_dir, db_url):
    import json

    from typer.testing import CliRunner

    from foundation_helpers import login, make_client
    from lookout.cli import app
    from lookout.health.services import PatrolScheduler
    from lookout.security import accounts

    ids = seed(db_url, sim)
    with session_scope(db_url) as s:
        accounts.add_user(s, "t", "om_wang", "secret-pass", "om_engineer", clearance=1)
    client = make_client(data_dir)
    h = login(client, "om_wang", "secret-pass")
    r = client.put(f"/api/v1/health/channels/{ids['ch1']}/reference", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["reference"]["width"] == 384
    assert r.json()["not_judged"] == []  # the simulator's street has detail enough to judge focus by

    clock = Clock()
    scheduler = PatrolScheduler(load_settings(data_dir=data_dir), CFG, now_fn=clock)
    assert scheduler.tick()["channels"] == 2  # nothing patrolled yet: everything is due
    with session_scope(db_url) as s:
        d1 = s.execute(select(DiagnosisRecord).where(DiagnosisRecord.channel_id == ids["ch1"])).scalar_one()
        assert d1.used_reference and d1.online

    sim.set_fault(1, "turned")
    clock.advance(minutes=11)  # the key-area channel is due again, the other is not
    summary = scheduler.tick()
    assert [x["channel_id"] for x in summary["results"]] == [ids["ch1"]]
    assert "scene_change" in summary["results"][0]["faults"]

    out = CliRunner().invoke(app, ["patrol", "run", "--channel", str(ids["ch2"]), "--json"])
    assert out.exit_code == 0, out.output
    res = json.loads(out.output.strip().splitlines()[-1])
    assert res["channels"] == 1 and res["results"][0]["online"] is True


def test_a_turned_camera_is_called_back_to_its_view_over_gb28181(sim, data_dir, db_url):
    """The seeds' complaint: a camera showing the road instead of the attraction. Its view was marked;
    it turns, and two patrols open a scene-change work order; the operator calls its home preset over
    GB/T 28181 (the NVR, a simulated device registered with the platform, turns the simulated camera
    back), and closing the order passes the re-check."""
    import threading

    from foundation_helpers import login, make_client

    from lookout.federation.gb28181 import presets, ptz
    from lookout.security import accounts

    ids = seed(db_url, sim)
    settings = load_settings(data_dir=data_dir)
    with session_scope(db_url) as s:
        accounts.add_user(s, "t", "op", "secret-pass", "operator", clearance=1)
    client = make_client(data_dir)
    h = login(client, "op", "secret-pass")
    assert client.put(f"/api/v1/health/channels/{ids['ch1']}/reference", headers=h).status_code == 200
    clock = Clock()
    sim.set_fault(1, "turned")
    for _ in range(2):
        patrol_once(settings, CFG, now_fn=clock, channel_ids=[ids["ch1"]])
        clock.advance(minutes=30)
    (order,) = [o for o in orders(db_url, ids["ch1"]) if o.fault == "scene_change"]

    turned_back = threading.Event()

    def home(channel_code: str, cmd: ptz.PtzCommand) -> None:  # preset 1 is the view the camera was set up for
        if channel_code == "50015600001320000001" and cmd.preset == ("call", 1):
            sim.set_fault(1, "clear")
            turned_back.set()

    with registered_nvr(db_url, home):
        r = client.post(f"/api/v1/gb28181/channels/{ids['ch1']}/preset", json={"action": "call", "number": 1},
                        headers=h)
        assert r.status_code == 200, r.text
        assert turned_back.wait(10)

    # on its way to the preset: a scheduled patrol leaves it for next time rather than judge it half-turned,
    # and the order closed at once is re-checked only once the camera has had time to arrive
    assert presets.still_settling(ids["ch1"], CFG.preset_settle_s) > 0
    assert patrol_once(settings, CFG, now_fn=clock, channel_ids=[ids["ch1"]], due_only=False)["channels"] == 0
    with session_scope(db_url) as s:
        workorders.request_close(s, s.get(WorkOrder, order.id), "om_wang", "preset 1 called", clock())
    recheck = patrol_once(settings, CFG, now_fn=clock, channel_ids=[ids["ch1"]], due_only=False, trigger="recheck")
    assert presets.still_settling(ids["ch1"], CFG.preset_settle_s) == 0
    assert "scene_change" not in recheck["results"][0]["faults"]
    done = next(o for o in orders(db_url, ids["ch1"]) if o.id == order.id)
    assert done.status == "closed" and done.recheck_passed is True


def latest_diagnosis(db_url, channel_id):
    with session_scope(db_url) as s:
        d = s.execute(select(DiagnosisRecord).where(DiagnosisRecord.channel_id == channel_id)
                      .order_by(DiagnosisRecord.id.desc())).scalars().first()
        s.expunge(d)
        return d


def test_a_preset_tour_finds_a_camera_that_no_longer_reaches_a_preset(sim, data_dir, db_url):
    """A PTZ camera watched at two presets (1: its usual view, 2: the turned view), each marked. With the
    tour on, the patrol calls each preset over GB/T 28181 and judges it against its own reference, then
    calls preset 1 again. When the camera stops reaching preset 2, the tour finds a scene change; the
    usual patrol, judging against whichever marked view matches best, cannot."""
    from lookout.health.patrol import set_reference
    from lookout.media.snapshot import grab_frame

    ids = seed(db_url, sim)
    settings = load_settings(data_dir=data_dir)
    clock = Clock()
    for preset, fault in (("1", "clear"), ("2", "turned")):
        sim.set_fault(1, fault)
        with session_scope(db_url) as s:
            set_reference(s, data_dir, s.get(Channel, ids["ch1"]), grab_frame(sim.url(1), timeout=15), "om_wang",
                          clock(), preset=preset)
    sim.set_fault(1, "clear")
    stuck = {"2": False}

    def ptz_motor(channel_code, cmd):
        if channel_code != "50015600001320000001" or cmd.preset is None or cmd.preset[0] != "call":
            return
        if cmd.preset[1] == 1:
            sim.set_fault(1, "clear")
        elif not stuck["2"]:
            sim.set_fault(1, "turned")

    tour = CFG.model_copy(update={"preset_tour": True, "preset_settle_s": 1.0})
    with registered_nvr(db_url, ptz_motor) as nvr:
        ok = patrol_once(settings, tour, now_fn=clock, channel_ids=[ids["ch1"]], due_only=False)
        # each preset matches its own view (people walking through the 2× "turned" view can be read as a
        # cover in one patrol's four frames, so only the views are asserted)
        assert "scene_change" not in ok["results"][0]["faults"], ok["results"][0]
        assert [(c, cmd.preset) for c, cmd in nvr.commands] == [("50015600001320000001", ("call", n)) for n in (1, 2, 1)]

        stuck["2"] = True  # the camera no longer turns to preset 2
        clock.advance(minutes=30)
        usual = patrol_once(settings, CFG, now_fn=clock, channel_ids=[ids["ch1"]], due_only=False)
        assert "scene_change" not in usual["results"][0]["faults"]  # its view matches preset 1's
        assert latest_diagnosis(db_url, ids["ch1"]).reference_preset == "1"  # and was judged against it
        clock.advance(minutes=30)
        toured = patrol_once(settings, tour, now_fn=clock, channel_ids=[ids["ch1"]], due_only=False)
        retried = bool(toured["results"][0]["error"])
        if retried:  # a stream that hiccuped on a loaded machine is not what is asserted
            clock.advance(minutes=30)
            toured = patrol_once(settings, tour, now_fn=clock, channel_ids=[ids["ch1"]], due_only=False)
        assert "scene_change" in toured["results"][0]["faults"], toured["results"][0]
        # the picture kept is the faulty preset's, with the view it was judged against
        assert latest_diagnosis(db_url, ids["ch1"]).reference_preset == "2"
    with session_scope(db_url) as s:
        calls = s.execute(select(AuditRecord).where(AuditRecord.action == "ptz_preset_call")).scalars().all()
        assert (len(calls) >= 6 if retried else len(calls) == 6) and {c.actor for c in calls} == {"patrol"}


def test_a_channels_own_thresholds_apply_to_its_patrols(sim, data_dir, db_url):
    """A channel's own threshold changes what its patrol reports, and only its: at 0, any noise
    score counts."""
    from lookout.health.models import ChannelThresholds

    ids = seed(db_url, sim)
    with session_scope(db_url) as s:
        s.add(ChannelThresholds(channel_id=ids["ch2"], thresholds={"noise": 0}, set_at=Clock()(), set_by="om_wang"))
    res = patrol_once(load_settings(data_dir=data_dir), CFG, now_fn=Clock(), due_only=False)
    faults = {r["channel_id"]: r["faults"] for r in res["results"]}
    assert "noise" in faults[ids["ch2"]] and "noise" not in faults[ids["ch1"]]
