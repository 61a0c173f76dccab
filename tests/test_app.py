"""The app factory, cookie settings, log redaction and the demo's refusal to run in
production settings."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, has_request_context, request
from flask.testing import FlaskCliRunner

from lti_tool import create_app
from lti_tool.extensions import db
from lti_tool.log_redaction import redact
from tests.conftest import TEST_SECRET
from tests.support.browser import FormBrowser, launch


def test_secret_key_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LTI_TOOL_SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="LTI_TOOL_SECRET_KEY"):
        create_app({"ALLOW_INSECURE": True})


def test_plain_http_base_url_needs_insecure_mode() -> None:
    with pytest.raises(RuntimeError, match="https"):
        create_app({"SECRET_KEY": TEST_SECRET, "BASE_URL": "http://aiu.example.ac.uk"})


@pytest.mark.parametrize("base,secure,samesite", [
    ("https://aiu.example.ac.uk", True, "None"),
    ("http://localhost:5000", True, "None"),
    ("http://aiu.internal.test", False, "Lax"),
])
def test_cookie_attributes_follow_the_base_url(base: str, secure: bool, samesite: str) -> None:
    app = create_app({"SECRET_KEY": TEST_SECRET, "BASE_URL": base, "ALLOW_INSECURE": True})
    assert app.config["SESSION_COOKIE_SECURE"] is secure
    assert app.config["SESSION_COOKIE_SAMESITE"] == samesite
    assert app.config["SESSION_COOKIE_PARTITIONED"] is secure


def test_environment_settings_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LTI_TOOL_SECRET_KEY", "from-env")
    monkeypatch.setenv("LTI_TOOL_BASE_URL", "https://aiu.example.ac.uk/")
    monkeypatch.setenv("LTI_TOOL_ALLOW_INSECURE", "1")
    app = create_app()
    assert app.config["SECRET_KEY"] == "from-env"
    assert app.config["BASE_URL"] == "https://aiu.example.ac.uk"
    assert app.config["ALLOW_INSECURE"] is True


def test_redaction_patterns() -> None:
    line = ("id_token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIzIn0.c2ln return_url=https://m/x?"
            "course=2&sesskey=YIGBUQMpRF Authorization: Bearer abc.def "
            "/lti/register/SECRET123 access_token: tok123")
    cleaned = redact(line)
    for secret in ("eyJhbGci", "YIGBUQMpRF", "abc.def", "SECRET123", "tok123"):
        assert secret not in cleaned


def test_no_token_or_sesskey_reaches_the_log(app: Flask, registered: Any, moodle: Any,
                                             browser: FormBrowser,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    launch(browser, moodle, "learner1")
    issued = moodle.last_id_token
    sesskey = moodle.sesskey(3)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "launch_ok" in logged
    assert issued.token not in logged
    assert issued.token.split(".")[1] not in logged
    assert sesskey not in logged


def test_launch_hot_path_queries_and_no_network(app: Flask, registered: Any, moodle: Any,
                                                browser: FormBrowser) -> None:
    # The first launch creates the records and warms the JWKS cache; it also stores
    # Moodle's product details on the platform, which refreshes the platform cache once.
    launch(browser, moodle, "learner1")
    launch(browser, moodle, "learner1")
    fetches = moodle.jwks_fetch_count
    statements: list[tuple[str, str]] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append((request.path if has_request_context() else "-", statement))

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        page = launch(browser, moodle, "learner1")
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert page.status_code == 200
    assert moodle.jwks_fetch_count == fetches
    listing = "\n".join(f"{path}: {sql}" for path, sql in statements)
    # The launch itself, for a returning learner: the login state, the nonce, the person,
    # the course, the course role, the placement, the session; the platform and deployment
    # come from the process's cache (platforms/cache.RowCache).
    assert len([p for p, _ in statements if p == "/lti/launch"]) <= 8, listing
    assert not [sql for _, sql in statements if "FROM platform" in sql
                or "FROM deployment" in sql], listing
    # Login, launch and the landing page together; a regression here means an N+1 or a
    # repeated lookup crept onto the hot path.
    assert len(statements) <= 26, listing


def test_demo_refuses_production_settings(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["demo"])
    assert result.exit_code != 0
    assert "local use only" in result.output


def test_health(client: Any) -> None:
    assert client.get("/healthz").json == {
        "status": "ok", "outbox": {"pending": 0, "oldest_pending_seconds": 0, "failed": 0}}


def test_unknown_page_is_a_friendly_404(client: Any) -> None:
    answer = client.get("/no-such-page")
    assert answer.status_code == 404 and b"Page not found" in answer.data


def test_migrations_match_the_models(app: Flask, tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with app.app_context(), db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []
