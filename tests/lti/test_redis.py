"""With LTI_TOOL_REDIS_URL set, login state, nonces, sessions and caches live in Redis and a
whole launch works the same."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask

from lti_tool import create_app
from lti_tool.demo.server import serve_in_thread
from lti_tool.demo.wiring import register_both_ways
from lti_tool.extensions import db
from lti_tool.lti.models import LoginState, UsedNonce, WebSession
from tests.conftest import TEST_SECRET, free_port
from tests.support.browser import FormBrowser, launch

REDIS_URL = os.environ.get("AIU_TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(not REDIS_URL,
                                reason="AIU_TEST_REDIS_URL not set (scripts/test.sh sets it)")


@pytest.fixture
def redis_app(database_uri: str, keys_dir: Path, tmp_path: Path) -> Iterator[Flask]:
    assert REDIS_URL
    redis.Redis.from_url(REDIS_URL).flushdb()
    port = free_port()
    app = create_app({"SECRET_KEY": TEST_SECRET, "TESTING": True,
                      "BASE_URL": f"http://localhost:{port}",
                      "SQLALCHEMY_DATABASE_URI": database_uri, "KEYS_DIR": str(keys_dir),
                      "ALLOW_INSECURE": True, "REDIS_URL": REDIS_URL})
    handle = serve_in_thread(app, "127.0.0.1", port)
    yield app
    handle.shutdown()
    with app.app_context():
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        db.engine.dispose()


def test_launch_with_redis_shared_state(redis_app: Flask, moodle: Any) -> None:
    from lti_tool.lti.json_store import RedisBackend

    assert isinstance(redis_app.extensions["aiu_json_store"].backend, RedisBackend)
    with redis_app.app_context():
        register_both_ways(moodle, redis_app.config["BASE_URL"], actor="test")
        db.session.commit()
    with FormBrowser() as browser:
        page = launch(browser, moodle, "learner1")
        assert page.status_code == 200, page.text
        assert browser.open(page.url).status_code == 200
    with redis_app.app_context():
        for model in (LoginState, UsedNonce, WebSession):
            assert db.session.scalar(sa.select(sa.func.count()).select_from(model)) == 0
    assert REDIS_URL
    keys = {k.decode() for k in redis.Redis.from_url(REDIS_URL).keys("aiu:*")}
    assert any(k.startswith("aiu:nonce:") for k in keys)
    assert any(k.startswith("aiu:session:") for k in keys)


def test_login_caps_and_rate_limits_live_in_redis(redis_app: Flask, moodle: Any) -> None:
    """Waiting logins are capped per client and rate-limit counters are shared in Redis."""
    import requests

    assert REDIS_URL
    client = redis.Redis.from_url(REDIS_URL)
    with redis_app.app_context():
        register_both_ways(moodle, redis_app.config["BASE_URL"], actor="test")
        db.session.commit()
    redis_app.config.update(LOGIN_STATES_PER_CLIENT=3, RATE_LIMIT_LOGIN="6 per minute")
    codes = []
    for _ in range(8):
        url, fields = moodle.login_initiation("learner1")
        codes.append(requests.post(url, data=fields, allow_redirects=False,
                                   timeout=10).status_code)
    assert codes == [302] * 6 + [429] * 2
    assert len(client.keys("aiu:login:*")) == 3
    assert client.keys("LIMITS:*aiu-limits*")  # the counters are in Redis, for every worker
