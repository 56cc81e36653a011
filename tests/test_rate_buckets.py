"""Rate limits kept in the database: every replica counts a client's comparisons alike."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.main import create_app
from app.storage import rate_buckets
from app.storage.rate_buckets import RATE_BUCKETS, StoredBuckets
from tests import postgres, test_store
from tests.conftest import settings_for
from tests.fake_upstream import FakeUpstream

url = test_store.url  # a fresh SQLite file and a fresh PostgreSQL schema
ASK = {"prompt": "hi", "samples": 1, "presets": [{}]}


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_two_replicas_spend_one_allowance(replicas):
    clock = Clock()
    here, there = (StoredBuckets(r.transient, clock) for r in replicas)
    assert here.take_now("10.0.0.1", per_minute=2) == 0
    assert there.take_now("10.0.0.1", per_minute=2) == 0
    assert here.take_now("10.0.0.1", per_minute=2) == pytest.approx(30)  # 60 s / 2
    assert there.take_now("10.0.0.2", per_minute=2) == 0  # another address, its own bucket
    clock.now += 29
    assert there.take_now("10.0.0.1", per_minute=2) == pytest.approx(1)
    clock.now += 1
    assert there.take_now("10.0.0.1", per_minute=2) == 0


def test_the_last_token_is_spent_once_when_replicas_race(replicas):
    clock = Clock()
    buckets = [StoredBuckets(r.transient, clock) for r in replicas]
    with ThreadPoolExecutor(max_workers=8) as pool:
        waits = list(pool.map(lambda i: buckets[i % 2].take_now("a", 5), range(24)))
    assert waits.count(0) == 5


def test_full_buckets_are_deleted_now_and_then(replicas, monkeypatch):
    monkeypatch.setattr(rate_buckets, "PRUNE_EVERY", 3)
    clock = Clock()
    buckets = StoredBuckets(replicas[0].transient, clock)
    buckets.take_now("old", 60)
    clock.now += 61  # "old" has refilled: as good as no row
    buckets.take_now("new", 60)
    buckets.take_now("new", 60)  # the third take prunes
    with replicas[0].transient.connect() as conn:
        assert set(conn.scalars(sa.select(RATE_BUCKETS.c.client))) == {"new"}


@pytest.mark.anyio
async def test_without_the_database_each_process_counts_alone(caplog):
    # Nothing listens on port 1: every connection is refused, as when the database is down.
    engine = sa.create_engine("postgresql+psycopg://knobs:secret@127.0.0.1:1/knobs")
    buckets = StoredBuckets(engine, Clock())
    with caplog.at_level(logging.WARNING, logger="knobs.limits"):
        assert await buckets.take("a", per_minute=1) == 0
        assert await buckets.take("a", per_minute=1) == pytest.approx(60)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "counted per process" in warnings[0]
    assert "secret" not in warnings[0]
    engine.dispose()


def test_a_client_over_the_limit_on_one_replica_is_over_it_on_the_other(
    fake: FakeUpstream, tmp_path: Path
):
    with postgres.fresh_schema(postgres.server_url()) as database:
        a, b = (
            create_app(settings_for(fake.base_url, tmp_path / n, database_url=database, **LIMIT))
            for n in "ab"
        )
        with TestClient(a) as one, TestClient(b) as two:
            assert one.post("/api/compare", json=ASK).status_code == 200
            refused = two.post("/api/compare", json=ASK)
    assert refused.status_code == 429 and "1 a minute" in refused.json()["detail"]
    assert len(fake.requests) == 1


LIMIT = {"rate_limit_per_minute": 1}


def test_failed_sign_ins_on_one_replica_count_on_the_other(fake: FakeUpstream, tmp_path: Path):
    wrong = {"Authorization": "Bearer guess"}
    with postgres.fresh_schema(postgres.server_url()) as database:
        a, b = (
            create_app(
                settings_for(
                    fake.base_url,
                    tmp_path / n,
                    access_token=SecretStr("s3cret"),
                    database_url=database,
                )
            )
            for n in "ab"
        )
        with TestClient(a) as one, TestClient(b) as two:
            assert [one.get("/runs", headers=wrong).status_code for _ in range(10)] == [401] * 10
            refused = two.get("/runs", headers={"Authorization": "Bearer s3cret"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
