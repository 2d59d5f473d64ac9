"""POST /api/v1/counts: API-key auth, exactly-once storage under retries and reordering,
late/out-of-window samples, gap reports, malformed batches refused whole."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from foundation_helpers import make_client
from lookout.counting.fusion import business_day_start
from lookout.counting.models import CountSample, CountSource
from lookout.registry.models import OrgUnit, Site
from lookout.security import accounts
from lookout.store.db import session_scope


def seed(db_url):
    with session_scope(db_url) as s:
        city = OrgUnit(tier="city", name="重庆市", division_code="500000", path="/")
        s.add(city)
        s.flush()
        a = Site(org_unit_id=city.id, name="A景区", opening_time="00:00", timezone="UTC")
        b = Site(org_unit_id=city.id, name="B景区")
        s.add_all([a, b])
        s.flush()
        _, key_a = accounts.issue_api_key(s, "t", "gates A", a.id)
        _, key_b = accounts.issue_api_key(s, "t", "gates B", b.id)
        return a.id, b.id, key_a, key_b


def test_ten_thousand_samples_with_retries_and_reordering_give_exact_totals(data_dir, db_url):
    site_a, _, key, _ = seed(db_url)
    client = make_client(data_dir)
    rng = random.Random(7)
    now = datetime.now(timezone.utc)
    sources = ["gate-north", "gate-south", "ticketing", "laser-east"]
    samples = []
    for i in range(10_000):
        src = sources[i % 4]
        samples.append({"source": src, "seq": i // 4 + 1,
                        "ts": (now - timedelta(seconds=3600 - i * 0.3)).isoformat(),
                        "in": rng.randint(0, 5), "out": rng.randint(0, 4)})
    # 5 % of samples are delivered late, in a later batch than their neighbours
    order = list(range(len(samples)))
    late = set(rng.sample(order, 500))
    on_time = [i for i in order if i not in late]
    delivery = on_time[:]
    for i in sorted(late):
        delivery.insert(min(len(delivery), delivery.index(on_time[min(i, len(on_time) - 1)]) + rng.randint(60, 400)), i)
    assert sorted(delivery) == order
    batches = [[samples[i] for i in delivery[k:k + 50]] for k in range(0, len(delivery), 50)]
    h = {"X-API-Key": key}
    accepted = duplicates = 0
    for batch in batches:
        r = client.post("/api/v1/counts", json=batch, headers=h)
        assert r.status_code == 200, r.text
        accepted += r.json()["accepted"]
        duplicates += r.json()["duplicates"]
        assert r.json()["rejected"] == []
        if rng.random() < 0.10:  # the sender did not see the answer and retries the batch
            r2 = client.post("/api/v1/counts", json={"samples": batch}, headers=h)
            assert r2.status_code == 200, r2.text
            assert r2.json()["accepted"] == 0
            duplicates += r2.json()["duplicates"]
    assert accepted == 10_000
    assert duplicates > 0
    last = r.json()
    assert last["gaps"] == {}  # every seq arrived in the end
    with session_scope(db_url) as s:
        assert s.scalar(select(func.count()).select_from(CountSample)) == 10_000
        for src in sources:
            got = s.execute(select(func.sum(CountSample.n_in), func.sum(CountSample.n_out))
                            .join(CountSource).where(CountSource.name == src, CountSource.site_id == site_a)).one()
            want = (sum(x["in"] for x in samples if x["source"] == src), sum(x["out"] for x in samples if x["source"] == src))
            assert tuple(got) == want
    start = business_day_start(now, "00:00", "UTC")
    today = [x for x in samples if datetime.fromisoformat(x["ts"]) >= start]
    occ = last["occupancy"]
    assert occ["entered_today"] == sum(x["in"] for x in today)
    assert occ["exited_today"] == sum(x["out"] for x in today)
    assert occ["present"] == max(0, occ["entered_today"] - occ["exited_today"])


def test_auth_gaps_late_samples_and_malformed_batches(data_dir, db_url):
    site_a, site_b, key_a, key_b = seed(db_url)
    client = make_client(data_dir)
    now = datetime.now(timezone.utc)
    ts = (now - timedelta(minutes=1)).isoformat()
    one = [{"source": "gate", "seq": 1, "ts": ts, "in": 3, "out": 0}]
    assert client.post("/api/v1/counts", json=one).status_code == 401
    assert client.post("/api/v1/counts", json=one, headers={"X-API-Key": "lk_wrong"}).status_code == 401

    # a gap in seq is reported, and closes when the missing sample arrives
    batch = [{"source": "gate", "seq": n, "ts": ts, "in": 1, "out": 0} for n in (1, 2, 5, 6, 9)]
    r = client.post("/api/v1/counts", json=batch, headers={"X-API-Key": key_a})
    assert r.status_code == 200 and r.json()["gaps"] == {"gate": [[3, 4], [7, 8]]}
    r = client.post("/api/v1/counts", json=[{"source": "gate", "seq": n, "ts": ts, "in": 1, "out": 0} for n in (3, 4)],
                    headers={"X-API-Key": key_a})
    assert r.json()["gaps"] == {"gate": [[7, 8]]}

    # a sample outside the late window is rejected and named; the others in the batch are stored
    old = (now - timedelta(hours=7)).isoformat()
    r = client.post("/api/v1/counts", json=[{"source": "gate", "seq": 7, "ts": ts, "in": 1, "out": 0},
                                            {"source": "gate", "seq": 8, "ts": old, "in": 1, "out": 0}],
                    headers={"X-API-Key": key_a})
    body = r.json()
    assert body["accepted"] == 1 and len(body["rejected"]) == 1
    assert body["rejected"][0]["index"] == 1 and "too late" in body["rejected"][0]["error"]

    # a malformed sample refuses the whole batch, naming it; nothing is written
    bad = [{"source": "gate", "seq": 20, "ts": ts, "in": 1, "out": 0},
           {"source": "gate", "seq": 21, "ts": ts, "in": -2, "out": 0}]
    r = client.post("/api/v1/counts", json=bad, headers={"X-API-Key": key_a})
    assert r.status_code == 422 and r.json()["detail"]["index"] == 1 and r.json()["detail"]["field"] == "in"
    r = client.post("/api/v1/counts", json=[{"source": "gate", "seq": 22, "ts": "2026-11-22T10:00:00", "in": 1,
                                             "out": 0}], headers={"X-API-Key": key_a})
    assert r.status_code == 422 and "UTC offset" in r.json()["detail"]["error"]

    # presence estimates; a source cannot switch kind
    r = client.post("/api/v1/counts", json=[{"source": "wifi", "seq": 1, "ts": ts, "present": 40},
                                            {"source": "gate", "seq": 30, "ts": ts, "present": 4}],
                    headers={"X-API-Key": key_a})
    assert r.json()["accepted"] == 1 and "flow" in r.json()["rejected"][0]["error"]

    # the key of site B writes to site B only
    r = client.post("/api/v1/counts", json=one, headers={"X-API-Key": key_b})
    assert r.status_code == 200 and r.json()["occupancy"]["site_id"] == site_b
    with session_scope(db_url) as s:
        n_a = s.scalar(select(func.count()).select_from(CountSample).join(CountSource).where(CountSource.site_id == site_a))
        n_b = s.scalar(select(func.count()).select_from(CountSample).join(CountSource).where(CountSource.site_id == site_b))
        assert (n_a, n_b) == (9, 1)  # 8 gate samples and 1 WiFi estimate


def test_a_sender_whose_seq_starts_again_is_not_taken_for_retries(db_url):
    from lookout.counting.sources import ingest_samples

    site_a, _, _, _ = seed(db_url)
    now = datetime.now(timezone.utc)

    def sample(seq, minutes_ago, n_in):
        return {"source": "gate", "seq": seq, "ts": now - timedelta(minutes=minutes_ago), "in": n_in, "out": 0}

    first_run = [sample(n, 60 - n, 1) for n in range(1, 31)]  # seq 1..30, a minute apart
    rebooted = [sample(n, 25 - n, 2) for n in range(1, 11)]  # the counter reboots: seq 1..10 again, later
    with session_scope(db_url) as s:
        r = ingest_samples(s, site_a, first_run, now)
        assert (r.accepted, r.duplicates, r.restarts) == (30, 0, {})
    with session_scope(db_url) as s:
        # the reboot's samples arrive out of order, with a retry of the old run mixed in
        r = ingest_samples(s, site_a, rebooted[5:] + [first_run[3]] + rebooted[:5], now)
        assert (r.accepted, r.duplicates, r.restarts) == (10, 1, {"gate": 1})
        assert r.gaps == {}
    with session_scope(db_url) as s:
        # retries of both runs store nothing; the new run goes on
        r = ingest_samples(s, site_a, [first_run[20], rebooted[2], sample(11, 13, 2)], now)
        assert (r.accepted, r.duplicates, r.restarts) == (1, 2, {})
        total = s.scalar(select(func.sum(CountSample.n_in)))
        assert total == 30 * 1 + 11 * 2
        assert s.scalar(select(func.count()).select_from(CountSample).where(CountSample.epoch == 1)) == 11
