"""Per-camera counting workers: analysis-rate gate with load shedding, and a worker process
counting a real clip end to end into the sample store and the fused occupancy."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from sqlalchemy import func, select

from lookout.counting.fusion import site_occupancy
from lookout.counting.models import CountSample, CountSource
from lookout.registry.models import Channel, OrgUnit, Site, Zone
from lookout.runtime.pipeline_supervisor import PipelineSupervisor
from lookout.runtime.pipeline_worker import ChannelJob, LineSpec, RateGate, ZoneSpec
from lookout.store.db import session_scope


def test_rate_gate_takes_the_analysis_rate_and_sheds_load():
    gate = RateGate(5.0)
    taken = [i for i in range(50) if gate.take(i / 25)]  # a 25 fps stream for 2 s
    assert taken == list(range(0, 50, 5))
    assert gate.dropped == 0
    gate = RateGate(5.0)
    assert gate.take(0.0)
    assert gate.take(1.0)  # the worker was busy for a second: the frames due meanwhile are dropped
    assert gate.dropped == 4
    assert not gate.take(1.1) and gate.take(1.2)
    with pytest.raises(ValueError):
        RateGate(0)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_worker_counts_a_clip_into_the_store(pets_video, db_url, tmp_path):
    clip = tmp_path / "pets70.avi"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(pets_video), "-frames:v", "70", "-c:v", "mpeg4", "-q:v", "2",
                    str(clip)], check=True)
    with session_scope(db_url) as s:
        org = OrgUnit(tier="city", name="c", division_code="500000", path="/")
        s.add(org)
        s.flush()
        site = Site(org_unit_id=org.id, name="S", opening_time="00:00", timezone="UTC")
        s.add(site)
        s.flush()
        zone = Zone(site_id=site.id, name="campus")
        s.add(zone)
        s.flush()
        ch = Channel(site_id=site.id, code="50000000001320000001", name="gate camera", zone_id=zone.id,
                     analyzers=["count"])
        s.add(ch)
        s.flush()
        site_id, zone_id, channel_id = site.id, zone.id, ch.id
    # three people walk leftwards across x = 600 in these 7 s (annotated frames 8, 40, 46);
    # with P1 at the top, the left side is s > 0: "in"
    job = ChannelJob(channel_id=channel_id, site_id=site_id, url=str(clip), analysis_fps=5.0, live=False, emit_seconds=2.0,
                     lines=[LineSpec(11, 600, 0, 600, 576, bounded=False)],
                     zones=[ZoneSpec(zone_id, [[0, 0], [768, 0], [768, 576], [0, 576]], area_m2=1000.0)])
    sup = PipelineSupervisor(db_url, [job], publish=False)
    sup.start()
    try:
        deadline = time.monotonic() + 240
        while not sup.all_finished() and time.monotonic() < deadline:
            sup.poll(0.5)
    finally:
        sup.stop()
    assert sup.all_finished(), sup.workers[channel_id].last_error
    stats = sup.workers[channel_id].stats
    assert stats["analysed"] == 35 and stats["frames"] == 70
    with session_scope(db_url) as s:
        src = {x.name: x for x in s.execute(select(CountSource)).scalars()}
        line_src = src[f"ch{channel_id}-line11"]
        assert line_src.kind == "flow" and line_src.category == "video_line" and line_src.channel_id == channel_id
        assert src[f"ch{channel_id}-zone{zone_id}"].zone_id == zone_id
        n_in, n_out = s.execute(select(func.sum(CountSample.n_in), func.sum(CountSample.n_out))
                                .where(CountSample.source_id == line_src.id)).one()
        assert 1 <= n_in <= 3 and n_out == 0  # accuracy is measured by bench/count_eval.py
        last = s.execute(select(CountSample.ts).order_by(CountSample.ts.desc()).limit(1)).scalar()
        snap = site_occupancy(s, site_id, last)
    assert snap.entered_today == n_in
    assert 3 <= snap.zones[zone_id] <= 7  # 5 people annotated at the end of the clip


def test_stopping_the_supervisor_restarts_no_worker(tmp_path, db_url, caplog):
    """Workers that end because they were told to stop are not taken for dead ones (a live camera's
    worker exits 0 only when stopped; the last poll of stop() used to schedule its restart)."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is needed for the clip")
    clip = tmp_path / "long.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=5:duration=120",
                    "-c:v", "libx264", "-preset", "ultrafast", str(clip)], check=True)
    job = ChannelJob(channel_id=1, site_id=1, url=str(clip), analysis_fps=1.0, live=True, emit_seconds=60.0)
    sup = PipelineSupervisor(db_url, [job], publish=False)
    sup.start()
    try:
        deadline = time.monotonic() + 60
        while not sup.workers[1].process.is_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        sup.poll(0.5)
    finally:
        with caplog.at_level("WARNING", logger="lookout.runtime.pipeline_supervisor"):
            sup.stop()
    assert sup.workers[1].process.exitcode is not None
    assert "restart in" not in caplog.text and sup.workers[1].next_start == 0.0
