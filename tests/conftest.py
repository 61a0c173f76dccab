"""Fixtures: the app on a real database (SQLite, or PostgreSQL from AIU_TEST_DATABASE_URL)
migrated with the real migrations, real RS256 keys, the tool served over HTTP on loopback,
and the Moodle-faithful platform stand-in that performs whole launches."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from lti_tool import create_app
from lti_tool.demo.platform import MoodleStandIn
from lti_tool.demo.server import ServerHandle, serve_in_thread
from lti_tool.demo.wiring import register_both_ways
from lti_tool.extensions import db
from lti_tool.lti.keys import KeyStore
from tests.support.browser import FormBrowser

# Every log line of the run is scanned for secrets and personal data (fails the run).
# Every staff page and export of the run is scanned for learners' request reasons.
pytest_plugins = ["tests.support.log_scan", "tests.support.privacy_scan"]

TEST_SECRET = "test-secret-key-not-for-production"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As the workplace's probe runs it: no background networking (the machine has no internet).
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


TEST_RATE_LIMITS = {name: "10000 per second" for name in (
    "RATE_LIMIT_LOGIN", "RATE_LIMIT_LAUNCH", "RATE_LIMIT_REGISTRATION", "RATE_LIMIT_ANSWER_LINK",
    "RATE_LIMIT_FORM_POST")}


def _worker_index() -> int | None:
    """The pytest-xdist worker's number (gw0 -> 0), or None outside xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else None


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist every worker gets its own Redis database (tests flush it), before
    any test module reads AIU_TEST_REDIS_URL."""
    index = _worker_index()
    redis_url = os.environ.get("AIU_TEST_REDIS_URL")
    if index is not None and redis_url:
        base, _, _db = redis_url.rpartition("/")
        os.environ["AIU_TEST_REDIS_URL"] = f"{base}/{index + 1}"


def _own_postgres_database(uri: str) -> str:
    """Under pytest-xdist, a database of the worker's own on the same server (created
    once), so that two workers never migrate or truncate each other's tables."""
    index = _worker_index()
    if index is None:
        return uri
    url = sa.engine.make_url(uri)
    name = f"{url.database}_gw{index}"
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                  {"n": name}).first()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def database_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One database per test session, built by the real migrations."""
    uri = os.environ.get("AIU_TEST_DATABASE_URL") or (
        "sqlite:///" + str(tmp_path_factory.mktemp("db") / "aiu-test.sqlite")
    )
    if uri.startswith("postgresql"):
        uri = _own_postgres_database(uri)
    app = create_app({"SECRET_KEY": TEST_SECRET, "SQLALCHEMY_DATABASE_URI": uri,
                      "ALLOW_INSECURE": True, "TESTING": True})
    with app.app_context():
        from flask_migrate import upgrade

        if uri.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.execute(sa.text("DROP SCHEMA public CASCADE"))
                conn.execute(sa.text("CREATE SCHEMA public"))
        upgrade()
        db.engine.dispose()
    return uri


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    path = tmp_path / "keys"
    KeyStore(path).generate()
    return path


@pytest.fixture
def tool_port() -> int:
    return free_port()


@pytest.fixture
def app(database_uri: str, keys_dir: Path, tool_port: int, tmp_path: Path) -> Iterator[Flask]:
    app = create_app({
        "SECRET_KEY": TEST_SECRET,
        "TESTING": True,
        "BASE_URL": f"http://localhost:{tool_port}",
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "KEYS_DIR": str(keys_dir),
        "ALLOW_INSECURE": True,
        # The suite launches a lot from one address: rate limits stay on but far away
        # (tests/test_security_headers.py tests them with low settings).
        **TEST_RATE_LIMITS,
        # Calls to the in-process stand-in (its JWKS, tokens, scores) can take seconds on a
        # busy 2-core machine; a short timeout here made launches fail in loaded runs.
        "HTTP_TIMEOUT": 30.0,
    })
    app.instance_path = str(tmp_path / "instance")
    # The case flows change the database behind the browser (a deadline passing): they use
    # this test's app, never an earlier test's. Imported here: flows imports this module.
    from tests.cases import flows
    flows.APP = app
    yield app
    flows.APP = None
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def tool(app: Flask, tool_port: int) -> Iterator[ServerHandle]:
    """The tool served over HTTP (threaded) at http://localhost:<port>."""
    handle = serve_in_thread(app, "127.0.0.1", tool_port)
    yield handle
    handle.shutdown()


@pytest.fixture
def moodle() -> Iterator[MoodleStandIn]:
    port = free_port()
    standin = MoodleStandIn(f"http://127.0.0.1:{port}")
    handle = serve_in_thread(standin.app, "127.0.0.1", port)
    yield standin
    handle.shutdown()


def tool_url(app: Flask) -> str:
    return str(app.config["BASE_URL"])


@pytest.fixture
def registered(app: Flask, tool: ServerHandle, moodle: MoodleStandIn) -> Any:
    """The tool registered on the stand-in (as an admin would by hand) and vice versa."""
    with app.app_context():
        registration, _ = register_both_ways(moodle, tool_url(app), actor="test")
        db.session.commit()
    return registration


@pytest.fixture
def browser() -> Iterator[FormBrowser]:
    b = FormBrowser()
    yield b
    b.close()


def row_counts(app: Flask) -> dict[str, int]:
    """Rows in every table: tests compare these before and after a refused request."""
    with app.app_context():
        counts = {
            table.name: int(db.session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
            for table in db.metadata.sorted_tables
        }
        db.session.remove()
        return counts


class SmtpSink:
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Message

        sink = self

        class Keep(Message):
            def handle_message(self, message: Any) -> None:
                sink.messages.append(message)

        self.messages: list[Any] = []
        self.port = free_port()
        self._handler = Keep()
        self._make = lambda: Controller(self._handler, hostname="127.0.0.1", port=self.port)
        self._controller: Any = None

    def start(self) -> None:
        # A stopped controller's event loop is closed: a restart needs a new controller.
        self._controller = self._make()
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp(app: Flask) -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=sink.port, MAIL_TIMEOUT=3.0)
    yield sink
    try:
        sink.stop()
    except (AssertionError, RuntimeError):
        pass


@pytest.fixture
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (no browser download)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: run bash scripts/test.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that drives Chromium is a browser test, marked or not: scripts/test.sh runs
    them once (on SQLite), not again for each database. A ``postgres_only`` test (row locks
    that SQLite does not have) is skipped unless the run is on PostgreSQL."""
    on_postgres = (os.environ.get("AIU_TEST_DATABASE_URL") or "").startswith("postgresql")
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
        if item.get_closest_marker("postgres_only") and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (AIU_TEST_DATABASE_URL)"))
