"""Every string the pages ask for exists in both languages; the names of faults, order states and
patrol triggers the camera-health data can hold are all translated."""

from __future__ import annotations

import re
from pathlib import Path

from lookout.web import i18n

TEMPLATES = Path(i18n.__file__).parent / "templates"


def test_every_literal_key_in_the_templates_is_translated():
    # literal keys only: t('a.b') or t('a.b', n=…), not a prefix joined to a value (t('fault.' ~ f), tested below)
    used = {k for f in TEMPLATES.glob("*.html") for k in re.findall(r"""\bt\('([a-z0-9_.]+)'\s*[,)]""", f.read_text())}
    assert len(used) > 100
    missing = sorted(k for k in used if k not in i18n.STRINGS)
    assert not missing, missing
    for k in used:
        zh, en = i18n.STRINGS[k]
        assert zh and en, k


def test_camera_health_vocabulary_is_translated():
    from lookout.health.models import OFFLINE_FAULT
    from lookout.health.vqd import FAULTS

    keys = ([f"fault.{f}" for f in (*FAULTS, OFFLINE_FAULT)] + [f"wo.status.{s}" for s in ("open", "rechecking", "closed")]
            + [f"trigger.{t}" for t in ("schedule", "manual", "recheck")])
    for k in keys:
        assert i18n.t(k, "zh") != k and i18n.t(k, "en") != k, k
    assert i18n.t("fault.scene_change", "zh") == "场景变换"
    assert "wo.status.closed" in i18n.bundle("zh")  # the page's script names an order's new state


def test_a_patrols_reasons_read_in_the_readers_language():
    from lookout.health.status import status_from_patrol

    _, faults = status_from_patrol(True, None, ["scene_change", "blur"])
    assert i18n.reason(faults, "zh") == "画面故障：场景变换、图像模糊"
    assert i18n.reason(faults, "en") == "picture faults: scene change, blur"
    _, failed = status_from_patrol(False, "connection refused", [])
    assert i18n.reason(failed, "zh") == "取流失败：connection refused"  # not a form the reader gives: as stored
    _, ok = status_from_patrol(True, None, [])
    assert i18n.reason(ok, "zh") == "取流正常，收到画面"
    assert i18n.reason("something else happened", "zh") == "something else happened"  # kept as stored
    assert i18n.reason(None) == "—"


def test_every_stream_failure_reads_in_chinese():
    """Each way the stream reader names a failure (``ingest.classify_error``), and a patrol's own,
    reads in Chinese on the camera page, in the patrol report and in a camera's state reason; the
    detail the camera or FFmpeg gave stays as given."""
    import errno

    import av

    from lookout.health.status import status_from_patrol
    from lookout.media.ingest import StreamTimeout, classify_error

    def av_error(cls, code: int):  # noqa: ANN001, ANN202 - a PyAV error as FFmpeg raises it
        return cls(code, "detail from ffmpeg")

    failures = [av_error(av.error.HTTPUnauthorizedError, 0), av_error(av.error.HTTPForbiddenError, 0),
                av_error(av.error.HTTPNotFoundError, 0), av_error(av.error.HTTPError, 0), ConnectionRefusedError(),
                ConnectionResetError(), StreamTimeout("no answer within 5 s"), TimeoutError(), EOFError(),
                av_error(av.error.InvalidDataError, 0), av_error(av.error.DecoderNotFoundError, 0),
                OSError(errno.EPROTONOSUPPORT, "protocol not supported"), OSError(errno.EHOSTUNREACH, "no route")]
    for exc in failures:
        said = classify_error(exc).reason
        zh = i18n.stream_error(said, "zh")
        assert zh != said and any("\u4e00" <= ch <= "\u9fff" for ch in zh), (type(exc).__name__, said, zh)
        assert i18n.stream_error(said, "en") == said
        _, state = status_from_patrol(False, said, [])
        assert i18n.reason(state, "zh") == "取流失败：" + zh
    assert i18n.stream_error("no picture within 20 s", "zh") == "20 秒内未取到画面"
    assert i18n.stream_error("not diagnosable: frame too small", "zh") == "画面无法诊断：frame too small"
    assert i18n.stream_error("something else", "zh") == "something else"


def test_gb28181_state_reasons_read_in_the_readers_language():
    """Every reason the GB/T 28181 modules store for a camera's state has a Chinese reading, and
    the English reading is the stored text itself."""
    from lookout.federation.gb28181 import presence, store

    fixed = [presence.REASON_REGISTERED, presence.REASON_KEEPALIVE, presence.REASON_UNREGISTERED,
             presence.REASON_EXPIRED, store.REASON_CATALOG_DEL, f"{store.CATALOG_STATUS_PREFIX}ON",
             f"{store.CATALOG_STATUS_PREFIX}OFF", *(r for _, r in store.EVENT_STATUS.values())]
    timeout = presence.timeout_reason(180, 60)
    nested = [f"{store.DEVICE_OFFLINE_PREFIX}: {timeout}", f"{store.DEVICE_ONLINE_PREFIX}: {presence.REASON_KEEPALIVE}"]
    for text in fixed + [timeout] + nested:
        zh, en = i18n.reason(text, "zh"), i18n.reason(text, "en")
        assert en == text, (text, en)
        assert zh != text and any("\u4e00" <= ch <= "\u9fff" for ch in zh), (text, zh)
    assert i18n.reason(timeout, "zh") == "180 秒无心跳(漏 3 次)"
    assert i18n.reason(nested[0], "zh") == "GB/T 28181 设备离线：180 秒无心跳(漏 3 次)"
    assert i18n.reason(store.EVENT_STATUS["VLOST"][1], "zh") == "视频丢失(目录事件 VLOST)"
