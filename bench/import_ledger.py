"""Ledger import speed: a 10,000-row ledger into a fresh SQLite database (and PostgreSQL when given).

    .venv/bin/python bench/import_ledger.py [--rows 10000] [--database-url URL]

Prints the time of the first import (everything created, audited), of a re-import (nothing changes),
and, as the baseline, of reading and validating the rows alone (no database).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from lookout.registry.ledger import import_ledger, read_rows, validate
from lookout.registry.models import Channel
from lookout.registry.sample import ledger_rows, write_csv
from lookout.security.models import AuditRecord
from lookout.store.db import session_scope
from lookout.store.migrate import upgrade


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--database-url", default=None)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    url = a.database_url or f"sqlite:///{tmp / 'bench.db'}"
    upgrade(url)
    f = write_csv(tmp / "ledger.csv", ledger_rows(a.rows, sites=50))

    t0 = time.perf_counter()
    total, good, errors = validate(read_rows(f))
    t_validate = time.perf_counter() - t0
    assert total == a.rows and not errors

    t0 = time.perf_counter()
    with session_scope(url) as s:
        r1 = import_ledger(s, f, "bench")
    t_first = time.perf_counter() - t0
    with session_scope(url) as s:
        n_audit = s.execute(select(func.count()).select_from(AuditRecord)).scalar()
    t0 = time.perf_counter()
    with session_scope(url) as s:
        r2 = import_ledger(s, f, "bench")
    t_again = time.perf_counter() - t0
    with session_scope(url) as s:
        n_channels = s.execute(select(func.count()).select_from(Channel)).scalar()
        n_audit2 = s.execute(select(func.count()).select_from(AuditRecord)).scalar()

    print(f"database            {url.split('://')[0]}")
    print(f"rows                {a.rows}")
    print(f"read+validate only  {t_validate:6.2f} s  (baseline, no database)")
    print(f"first import        {t_first:6.2f} s  created {r1.created}, audit records {n_audit}")
    print(f"re-import           {t_again:6.2f} s  unchanged {r2.unchanged}, updated {r2.updated}, "
          f"new audit records {n_audit2 - n_audit}")
    print(f"channels in db      {n_channels}")


if __name__ == "__main__":
    main()
