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
    assert i18n.reason(failed, "zh") == "取流失败：connection refused"
    _, ok = status_from_patrol(True, None, [])
    assert i18n.reason(ok, "zh") == "取流正常，收到画面"
    assert i18n.reason("GB/T 28181 catalog: Status ON", "zh") == "GB/T 28181 catalog: Status ON"  # kept as stored
    assert i18n.reason(None) == "—"
