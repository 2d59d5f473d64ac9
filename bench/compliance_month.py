"""What the compliance page's month figures cost with a month of online history.

Builds a SQLite database in a temporary folder: the demo sites plus ``--channels`` channels, each with a
state change every 6 hours over the last 31 days (online, online, fault, offline at random), stores the
daily history of this month's past days (``rates.refresh_daily``, as the patrol service does each
night), then times ``web.queries.compliance`` over this month for an administrator (median of
``--repeat``). Baseline in the same run: the same call over the moment only (no period).

    .venv/bin/python bench/compliance_month.py [--channels 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
os.environ.setdefault("LOOKOUT_ARGON2_TIME_COST", "1")

from sqlalchemy import insert, select  # noqa: E402

from lookout import demo  # noqa: E402
from lookout.bootstrap import initialise  # noqa: E402
from lookout.health import rates  # noqa: E402
from lookout.health.models import ChannelStatusChange  # noqa: E402
from lookout.registry.models import Channel  # noqa: E402
from lookout.security.models import User  # noqa: E402
from lookout.settings import load_settings  # noqa: E402
from lookout.store.base import utcnow  # noqa: E402
from lookout.store.db import session_scope  # noqa: E402
from lookout.web import queries  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--channels", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    folder = tempfile.mkdtemp()
    settings = load_settings(data_dir=folder, database_url=f"sqlite:///{folder}/bench.db",
                             secret_key="bench-secret-0123456789abcdef0123")
    initialise(settings)
    with session_scope(settings.db_url) as s:
        demo.seed(s)
        s.execute(insert(Channel), [{"site_id": 1 + i % 3, "code": f"5001560000132{i + 100:07d}", "name": f"c{i}",
                                     "status": "online"} for i in range(args.channels)])
    now, tz, rng = utcnow(), ZoneInfo("Asia/Shanghai"), random.Random(1)
    with session_scope(settings.db_url) as s:
        rows = []
        for cid in s.execute(select(Channel.id)).scalars():
            t = now - timedelta(days=31)
            while t < now:
                rows.append({"channel_id": cid, "at": t, "status": rng.choice(["online", "online", "fault", "offline"]),
                             "previous": "x", "reason": "r", "source": "patrol"})
                t += timedelta(hours=6)
        s.execute(insert(ChannelStatusChange), rows)
    today = rates.local_day(now, tz)
    with session_scope(settings.db_url) as s:
        stored = rates.refresh_daily(s, today.replace(day=1), today, now, tz)
    print(f"{args.channels + 10:,} channels, {len(rows):,} state changes, {stored:,} channel-days stored; "
          f"this month: {today.replace(day=1)} – {today}")
    with session_scope(settings.db_url) as s:
        admin = s.execute(select(User).where(User.username == "admin")).scalar_one()
        for name, period in (("the moment (baseline)", None), ("this month", (today.replace(day=1), today))):
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                queries.compliance(s, admin, now, period=period, tz="Asia/Shanghai")
                times.append(1000 * (time.perf_counter() - t))
            print(f"compliance over {name:<22} median {statistics.median(times):7.0f} ms")


if __name__ == "__main__":
    main()
