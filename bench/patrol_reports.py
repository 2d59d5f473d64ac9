"""What the O&M pages' patrol list and a patrol's report cost once diagnoses pile up.

Builds a database (SQLite in a temporary folder, or ``--db URL``) with the demo sites plus
``--cameras`` channels (5 % of them on the first site) and ``--runs`` patrol runs that each
diagnosed every channel, then times, for an account that sees everything (admin) and one scoped to
the first site (manager): the patrol list's first page (``health.reports.patrol_runs``) and one run's
report (``health.reports.patrol_report``). Baseline in the same run: a plain count of the diagnoses
table, the least any query over all of them costs.

    .venv/bin/python bench/patrol_reports.py [--cameras 2000] [--runs 200] [--repeat 5] [--db URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
os.environ.setdefault("LOOKOUT_ARGON2_TIME_COST", "1")

from sqlalchemy import func, insert, select  # noqa: E402

from lookout import demo  # noqa: E402
from lookout.bootstrap import initialise  # noqa: E402
from lookout.health import reports  # noqa: E402
from lookout.health.models import DiagnosisRecord, PatrolRun  # noqa: E402
from lookout.registry.models import Channel  # noqa: E402
from lookout.security import scope  # noqa: E402
from lookout.security.models import User  # noqa: E402
from lookout.settings import load_settings  # noqa: E402
from lookout.store.base import utcnow  # noqa: E402
from lookout.store.db import session_scope  # noqa: E402


def ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--db", help="SQLAlchemy URL of an empty database (default: SQLite in a temporary folder)")
    args = ap.parse_args()
    folder = tempfile.mkdtemp()
    settings = load_settings(data_dir=folder, database_url=args.db or f"sqlite:///{folder}/bench.db",
                             secret_key="bench-secret-0123456789abcdef0123")
    initialise(settings)
    with session_scope(settings.db_url) as s:
        demo.seed(s)
        for i in range(args.cameras):
            s.add(Channel(site_id=1 if i < args.cameras // 20 else 2, code=f"5001560000132{i + 100:07d}", name=f"c{i}"))
    t0 = time.perf_counter()
    with session_scope(settings.db_url) as s:
        ids = list(s.execute(select(Channel.id)).scalars())
        now = utcnow()
        for r in range(args.runs):
            run = PatrolRun(trigger="schedule", started_at=now - timedelta(minutes=30 * r), finished_at=now,
                            channels=len(ids))
            s.add(run)
            s.flush()
            s.execute(insert(DiagnosisRecord), [
                {"channel_id": c, "run_id": run.id, "at": run.started_at, "online": c % 50 != 0,
                 "faults": ["blur"] if c % 7 == 0 else [], "scores": {}} for c in ids])
    rows = len(ids) * args.runs
    print(f"database: {settings.db_url.split(':')[0]}, {len(ids)} channels × {args.runs} runs = {rows:,} diagnoses "
          f"(built in {time.perf_counter() - t0:.0f} s)")
    with session_scope(settings.db_url) as s:
        base = ms(lambda: s.execute(select(func.count()).select_from(DiagnosisRecord)).scalar_one(), args.repeat)
        print(f"baseline: count(*) of the diagnoses           {base:8.1f} ms")
        newest = s.execute(select(func.max(PatrolRun.id))).scalar_one()
        for name in ("admin", "manager"):
            user = s.execute(select(User).where(User.username == name)).scalar_one()
            visible = scope.channel_filter(select(Channel.id), user)
            page = ms(lambda: reports.patrol_runs(s, visible, 1, 30), args.repeat)
            report = ms(lambda: reports.patrol_report(s, newest, visible), args.repeat)
            n = reports.patrol_runs(s, visible, 1, 30)[1][0][1]
            print(f"{name:<8} ({n:>5} channels a run): list page {page:8.1f} ms · one run's report {report:8.1f} ms")


if __name__ == "__main__":
    main()
