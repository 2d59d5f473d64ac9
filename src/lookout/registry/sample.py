"""Synthetic device ledgers (for benchmarks, tests and trying the import)."""

from __future__ import annotations

import csv
from pathlib import Path

from lookout.registry.ledger import COLUMNS


def ledger_rows(n: int, sites: int = 10, division: str = "50015600") -> list[dict[str, str]]:
    rows = []
    per_nvr = 32
    for i in range(n):
        site = i % sites
        nvr = i // per_nvr
        rows.append({
            "site": f"测试景区{site:03d}",
            "device_code": f"{division}00118{8}{nvr:06d}",
            "device_type": "NVR",
            "channel_code": f"{division}00132{8}{i + 1:06d}",
            "channel_name": f"通道{i + 1:05d}",
            "rtsp_url": f"rtsp://10.{site}.{nvr % 250}.{i % 250}:554/ch{i % per_nvr + 1}",
            "longitude": f"{107.0 + (i % 1000) / 10000:.4f}",
            "latitude": f"{29.0 + (i % 1000) / 10000:.4f}",
            "zone": f"区域{i % 5}",
            "resource_class": "3" if i % 10 else "2",
            "key_area": "是" if i % 7 == 0 else "否",
        })
    # NVRs are shared across sites by index; keep each NVR within one site
    for r, i in zip(rows, range(n)):
        r["device_code"] = f"{division}00118{8}{(i % sites) * 10000 + (i // sites) // per_nvr:06d}"
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return path
