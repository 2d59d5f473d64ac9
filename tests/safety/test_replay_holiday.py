"""Replays through the live path (SafetyService on a migrated database, simulated clock)."""

import json
import math
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from lookout.safety.replay import TraceError, parse_trace, run_replay

CST = timezone(timedelta(hours=8))
START = datetime(2026, 10, 1, 8, 0, tzinfo=CST)  # National Day holiday


def surge_trace() -> str:
    """Two gates; 20 people a minute enter until 960 are inside (08:47), the crowd holds,
    then leaves at 30 a minute from 09:00."""
    lines = ["ts,source,in,out"]
    for m in range(0, 100):
        ts = (START + timedelta(minutes=m)).isoformat()
        if m <= 47:
            lines += [f"{ts},gate-a,10,0", f"{ts},gate-b,10,0"]
        elif m <= 59:
            lines += [f"{ts},gate-a,0,0"]
        else:
            left = min(30, max(0, 960 - 30 * (m - 60)))
            lines += [f"{ts},gate-a,0,{left // 2}", f"{ts},gate-b,0,{left - left // 2}"]
    return "\n".join(lines) + "\n"


def hhmm(ts: str) -> str:
    return datetime.fromisoformat(ts).astimezone(CST).strftime("%H:%M")


def test_holiday_surge_escalates_and_deescalates_on_the_right_minutes():
    res = run_replay(parse_trace(surge_trace()), daily_max=2000, instant_max=1000).to_dict()
    got = [(hhmm(t["ts"]), t["level"], t["measure"]) for t in res["transitions"]]
    assert got == [
        ("08:39", "yellow", "instant"),  # 800 inside = 80 %
        ("08:44", "orange", "instant"),  # 900 = 90 %
        ("08:47", "red", "instant"),  # 960 = 96 %
        ("09:12", "orange", "instant"),  # below 90 % since 09:02 (870), held 10 min
        ("09:22", "yellow", "instant"),  # below 85 % at the step; held again
        ("09:32", "none", "instant"),
    ]
    assert res["peak"] == {"present": 960, "daily": 960}


def test_daily_measure_and_opening_time():
    lines = ["ts,source,in,out"]
    for m in range(0, 60):
        ts = (START + timedelta(minutes=m)).isoformat()
        lines.append(f"{ts},turnstile,20,20")  # people pass through: nobody stays
    res = run_replay(parse_trace("\n".join(lines)), daily_max=1000, opening="07:30").to_dict()
    got = [(hhmm(t["ts"]), t["level"], t["measure"]) for t in res["transitions"]]
    assert got == [("08:39", "yellow", "daily"), ("08:44", "orange", "daily"), ("08:47", "red", "daily")]
    assert res["peak"] == {"present": 0, "daily": 1200}


def test_hovering_around_80_percent_for_an_hour_does_not_flap():
    lines = ["ts,source,in,out"]
    present = 0
    for m in range(0, 90):
        target = 700 + 10 * m if m < 10 else int(800 + 25 * math.sin(m / 2.0))
        delta = target - present
        present = target
        ts = (START + timedelta(minutes=m)).isoformat()
        lines.append(f"{ts},cam-1,{max(delta, 0)},{max(-delta, 0)}")
    res = run_replay(parse_trace("\n".join(lines)), daily_max=100000, instant_max=1000).to_dict()
    assert [t["level"] for t in res["transitions"]] == ["yellow"]


@pytest.mark.parametrize(
    "text, msg",
    [
        ("a,b,c\n", "header"),
        ("ts,source,in,out\n2026-10-01T08:00:00,g,1,0\n", "line 2: .*offset"),
        ("ts,source,in,out\n2026-10-01T08:00:00+08:00,g,x,0\n", "line 2: in/out"),
        ("ts,source,in,out\n2026-10-01T08:00:00+08:00,g,1,-1\n", "≥ 0"),
    ],
)
def test_bad_trace_rows_are_named(text, msg):
    with pytest.raises(TraceError, match=msg):
        parse_trace(text)


def test_replay_command_json(tmp_path: Path):
    trace = tmp_path / "trace.csv"
    trace.write_text(surge_trace())
    exe = Path(sys.executable).with_name("lookout")
    out = subprocess.run(
        [str(exe), "replay", str(trace), "--daily-max", "2000", "--instant-max", "1000", "--opening", "08:00", "--json"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    data = json.loads(out.stdout)
    assert [t["level"] for t in data["transitions"]] == ["yellow", "orange", "red", "orange", "yellow", "none"]
    assert data["transitions"][0]["ts"] == "2026-10-01T08:39:00+08:00"
    assert data["peak"]["present"] == 960
    bad = subprocess.run([str(exe), "replay", str(tmp_path / "nope.csv"), "--daily-max", "10", "--json"], capture_output=True, text=True)
    assert bad.returncode == 2 and "not found" in bad.stderr
