"""Login state and nonces are single-use in both stores (database and Redis)."""

from __future__ import annotations

import os
import threading

import pytest
from flask import Flask

from lti_tool.extensions import db
from lti_tool.lti.state import DatabaseStateStore, PendingLogin, RedisStateStore

REDIS_URL = os.environ.get("AIU_TEST_REDIS_URL")


def test_database_state_is_consumed_once(app: Flask) -> None:
    store = DatabaseStateStore()
    with app.app_context():
        store.save_login("s1", PendingLogin("n1", 1, "b1"), 60)
        db.session.commit()
        assert store.consume_login("s1") == PendingLogin("n1", 1, "b1")
        db.session.commit()
        assert store.consume_login("s1") is None
        assert store.consume_login("never-issued") is None


def test_database_expired_state_is_refused(app: Flask) -> None:
    store = DatabaseStateStore()
    with app.app_context():
        store.save_login("s2", PendingLogin("n", 1, "b"), -1)
        db.session.commit()
        assert store.consume_login("s2") is None


def test_database_nonce_is_usable_once(app: Flask) -> None:
    store = DatabaseStateStore()
    with app.app_context():
        assert store.use_nonce(1, "nonce-a", 60)
        db.session.commit()
        assert not store.use_nonce(1, "nonce-a", 60)
        assert store.use_nonce(2, "nonce-a", 60)  # another platform's nonce space


def test_two_workers_racing_for_one_state_only_one_wins(app: Flask) -> None:
    store = DatabaseStateStore()
    with app.app_context():
        store.save_login("race", PendingLogin("n", 1, "b"), 60)
        db.session.commit()
    results: list[object] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        with app.app_context():
            barrier.wait()
            results.append(store.consume_login("race"))
            db.session.commit()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r is not None for r in results) == [False, True]


@pytest.mark.skipif(not REDIS_URL, reason="AIU_TEST_REDIS_URL not set (scripts/test.sh sets it)")
def test_redis_store_is_single_use() -> None:
    assert REDIS_URL
    store = RedisStateStore(REDIS_URL)
    store.redis.flushdb()
    store.save_login("rs", PendingLogin("n", 3, "b"), 60)
    assert store.consume_login("rs") == PendingLogin("n", 3, "b")
    assert store.consume_login("rs") is None
    assert store.use_nonce(3, "x", 60)
    assert not store.use_nonce(3, "x", 60)


def test_worker_purges_expired_protocol_state(app: Flask, runner: object) -> None:
    from datetime import timedelta

    import sqlalchemy as sa

    from lti_tool.dbtypes import utcnow
    from lti_tool.lti.models import LoginState, UsedNonce, WebSession

    store = DatabaseStateStore()
    with app.app_context():
        past = utcnow() - timedelta(minutes=1)
        store.save_login("old", PendingLogin("n", 1, "b"), -60)
        db.session.add(UsedNonce(platform_id=1, nonce="old", expires_at=past))
        db.session.add(WebSession(sid_hash="x" * 64, data="{}", expires_at=past))
        store.use_nonce(1, "fresh", 60)
        db.session.commit()
    assert runner.invoke(args=["worker", "--once"]).exit_code == 0  # type: ignore[attr-defined]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginState)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WebSession)) == 0
        assert db.session.scalar(sa.select(UsedNonce.nonce)) == "fresh"
