"""The operator contract, exactly as scripts outside this repo drive the tool: the CLI
creates the schema and a key and mints a registration URL; gunicorn serves the app with two
workers; Moodle registers it by Dynamic Registration and launches work whichever worker
answers (state, nonces and sessions are shared through the database)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import free_port
from tests.support.browser import FormBrowser, launch
from tests.support.pages import wait_until_serving

BIN = Path(sys.executable).parent


@pytest.fixture
def operator_env(tmp_path: Path) -> dict[str, str]:
    port = free_port()
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "LTI_TOOL_SECRET_KEY": "operator-test-secret",
        "LTI_TOOL_BASE_URL": f"http://localhost:{port}",
        "LTI_TOOL_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'aiu.sqlite'}",
        "LTI_TOOL_KEYS_DIR": str(tmp_path / "keys"),
        "LTI_TOOL_ALLOW_INSECURE": "1",
        "AIU_PORT": str(port),
    }


def _flask(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(BIN / "flask"), "--app", "lti_tool", *args], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def gunicorn(operator_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    _flask(operator_env, "db", "upgrade")
    assert "Generated signing key" in _flask(operator_env, "keys", "generate")
    port = operator_env["AIU_PORT"]
    log = (tmp_path / "gunicorn.log").open("w")
    proc = subprocess.Popen([str(BIN / "gunicorn"), "--workers", "2", "--bind",
                             f"127.0.0.1:{port}", "lti_tool:create_app()"],
                            env=operator_env, stdout=log, stderr=subprocess.STDOUT)
    base = operator_env["LTI_TOOL_BASE_URL"]
    try:
        wait_until_serving(base + "/healthz", "gunicorn (2 workers)",
                           log=tmp_path / "gunicorn.log")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def test_dynamic_registration_and_launches_through_two_gunicorn_workers(
        operator_env: dict[str, str], gunicorn: str, moodle: Any) -> None:
    output = _flask(operator_env, "platforms", "registration-url")
    registration_url = output.strip().splitlines()[-1]
    assert registration_url.startswith(gunicorn + "/lti/register/")
    answer = requests.get(moodle.start_registration(registration_url), timeout=15)
    assert answer.status_code == 200, answer.text
    (tool,) = moodle.tools.values()
    moodle.activate(tool.client_id)
    listing = _flask(operator_env, "platforms", "list")
    assert tool.client_id in listing and "via=dynamic" in listing

    for username in ("learner1", "marker1", "learner2", "als1", "admin", "learner1"):
        with FormBrowser() as browser:
            page = launch(browser, moodle, username)
            assert page.status_code == 200, (username, page.text[:300])
    with FormBrowser() as browser:
        page = launch(browser, moodle, "marker1")
        assert page.status_code == 200
        assert browser.open(page.url).status_code == 200  # the session works on any worker
    # Moodle's keys were fetched once, by one worker, and reused by the other through the
    # database (as JSON: nothing in the instance or cache folders is a pickle).
    assert moodle.jwks_fetch_count == 1
    assert "intact" in _flask(operator_env, "audit", "verify")
    database = Path(operator_env["LTI_TOOL_SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert not list(database.parent.rglob("cache"))
