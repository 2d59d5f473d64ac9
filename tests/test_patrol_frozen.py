"""A patrol that finds a picture frozen again compares it with the picture the last patrol found
frozen: real video files (H.264, as a camera codes a still picture) read through the patrol's own
stream reader, stored and turned into work orders by the real rules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import av
import numpy as np
import pytest
from sqlalchemy import select

from lookout.health.models import WorkOrder
from lookout.health.patrol import PatrolConfig, patrol_once
from lookout.registry import service
from lookout.registry.models import Channel, Site
from lookout.settings import load_settings
from lookout.store.db import session_scope

pytestmark = [pytest.mark.db, pytest.mark.media]
CFG = PatrolConfig(concurrency=1, keyframes=2, budget_s=10.0, open_timeout=5.0, read_timeout=5.0)


# constant quality; and a constant bit rate (0.1 bit per pixel and frame) as a camera codes it, with
# a deblocking filter ("veryfast") and without one (as the camera simulator codes: each P-frame
# keeps refining a still picture block by block)
CODINGS = {
    "crf": {"crf": "20", "preset": "veryfast"},
    "cbr": {"preset": "veryfast", "x264-params": "nal-hrd=cbr"},
    "cbr-no-deblocking": {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline", "x264-params": "nal-hrd=cbr"},
}


def still_clip(path: Path, picture: np.ndarray, coding: str = "crf") -> Path:
    """Three seconds of one picture, H.264 with a key frame every 5 frames."""
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=5)
        st.width, st.height, st.pix_fmt = picture.shape[1], picture.shape[0], "yuv420p"
        kbps = f"{picture.shape[0] * picture.shape[1] * 5 // 10_000}k"
        st.options = {"g": "5", **CODINGS[coding]}
        if coding != "crf":
            st.options |= {"b": kbps, "minrate": kbps, "maxrate": kbps, "bufsize": kbps}
        for _ in range(16):
            for packet in st.encode(av.VideoFrame.from_ndarray(picture, format="bgr24")):
                out.mux(packet)
        for packet in st.encode():
            out.mux(packet)
    return path


def first_picture(video: Path) -> np.ndarray:
    with av.open(str(video)) as c:
        return next(c.decode(video=0)).to_ndarray(format="bgr24")


def one_camera(db_url: str, name: str, url: Path) -> int:
    """A district, a site with its O&M contact, and one camera reading ``url``; the camera's id."""
    with session_scope(db_url) as s:
        dist = service.create_org_unit(s, "t", "district", "武隆区", "500156")
        site = service.create(s, "t", Site, {"name": "仙女山", "org_unit_id": dist.id, "om_contact": "om_wang"}, "site")
        return service.create(s, "t", Channel, {"site_id": site.id, "code": "50015600001320000001", "name": name,
                                                "main_url": str(url)}, "channel").id


@pytest.mark.parametrize("coding", list(CODINGS))
def test_a_still_picture_opens_a_frozen_order_only_while_it_stays_the_same(coding, real_footage, data_dir, db_url,
                                                                            tmp_path):
    picture = first_picture(real_footage)
    frozen_a = still_clip(tmp_path / "a.mp4", picture, coding)
    lighter = still_clip(tmp_path / "b.mp4", np.clip(picture.astype(np.float32) * 1.12, 0, 255).astype(np.uint8), coding)
    cid = one_camera(db_url, "cam1", frozen_a)
    settings = load_settings(data_dir=data_dir)
    now = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)

    def patrol(url: Path) -> list[str]:
        nonlocal now
        now += timedelta(minutes=30)
        with session_scope(db_url) as s:
            s.get(Channel, cid).main_url = str(url)
        (r,) = patrol_once(settings, CFG, now_fn=lambda: now, channel_ids=[cid])["results"]
        assert r["online"], r
        return r["faults"]

    def frozen_orders() -> list[WorkOrder]:
        with session_scope(db_url) as s:
            return list(s.execute(select(WorkOrder).where(WorkOrder.channel_id == cid,
                                                          WorkOrder.fault == "frozen")).scalars())

    assert "frozen" in patrol(frozen_a)
    # half an hour on the same still scene is lighter: still within its own seconds, but not the
    # picture the last patrol saw, so not frozen, and no order
    assert "frozen" not in patrol(lighter)
    assert frozen_orders() == []
    assert "frozen" in patrol(lighter)  # nothing frozen just before it to compare with
    assert "frozen" in patrol(lighter)  # the very picture the last patrol found frozen
    (order,) = frozen_orders()
    assert order.status == "open"


def test_a_view_still_by_nature_is_not_judged_frozen_once_om_says_so(real_footage, data_dir, db_url, tmp_path):
    """A live camera on a scene that does not move (an empty corridor at night, its sensor noise
    coded away) reads frozen, and its order's re-check would fail for ever. O&M ticks "not judged"
    for frozen on that camera (a threshold of None): the re-check passes and the order closes; other
    faults are still judged."""
    from lookout.health import workorders
    from lookout.health.models import ChannelThresholds

    cid = one_camera(db_url, "走廊", still_clip(tmp_path / "still.mp4", first_picture(real_footage)))
    settings = load_settings(data_dir=data_dir)
    now = datetime(2026, 11, 22, 14, 0, tzinfo=timezone.utc)

    def patrol(trigger: str = "schedule") -> dict:
        nonlocal now
        now += timedelta(minutes=30)
        (r,) = patrol_once(settings, CFG, now_fn=lambda: now, channel_ids=[cid], due_only=False, trigger=trigger)["results"]
        return r

    assert "frozen" in patrol()["faults"]
    assert "frozen" in patrol()["faults"]
    with session_scope(db_url) as s:
        (order,) = s.execute(select(WorkOrder).where(WorkOrder.channel_id == cid, WorkOrder.fault == "frozen")).scalars()
        s.add(ChannelThresholds(channel_id=cid, thresholds={"frozen": None, "blur": 0}, set_at=now, set_by="om_wang"))
        workorders.request_close(s, order, "om_wang", "画面本就静止", now)
        oid = order.id
    r = patrol("recheck")
    assert "frozen" not in r["faults"] and r["scores"]["frozen"] >= 50  # still measured, no longer judged
    assert "blur" in r["faults"]  # a threshold of 0: every other fault is still judged
    with session_scope(db_url) as s:
        done = s.get(WorkOrder, oid)
        assert (done.status, done.recheck_passed) == ("closed", True)
