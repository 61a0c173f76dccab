"""gunicorn, run with the documented config, writes access-log lines without the secrets
in the paths and queries it serves (answer links, registration invites, sesskeys)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from tests.conftest import TEST_SECRET, free_port
from tests.support.pages import wait_for, wait_until_serving

ROOT = Path(__file__).resolve().parent.parent
SECRETS = ["AnSwErToKeN.abc123", "InViTeToKeN987", "MoOdLeSeSs", "RegToken55", "lena@example"]


def test_gunicorn_access_log_is_redacted(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "LTI_TOOL_SECRET_KEY": TEST_SECRET, "LTI_TOOL_ALLOW_INSECURE": "1",
           "LTI_TOOL_BASE_URL": f"http://localhost:{port}",
           "LTI_TOOL_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.sqlite'}",
           "HOME": str(tmp_path)}  # where gunicorn >= 27 puts its control socket
    log = tmp_path / "access.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "config" / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{port}", "--workers", "1", "--access-logfile", str(log),
         "--error-logfile", str(tmp_path / "error.log"), "lti_tool:create_app()"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base + "/static/logo.svg", "gunicorn serving the tool",
                           log=tmp_path / "error.log")
        for path in ["/static/answer/AnSwErToKeN.abc123",
                     "/static/lti/register/InViTeToKeN987?registration_token=RegToken55",
                     "/static/x?course=2&sesskey=MoOdLeSeSs&to=lena@example.test"]:
            requests.get(base + path, timeout=30,
                         headers={"Referer": base + "/learner/answer/AnSwErToKeN.abc123"})
        wait_for(lambda: log.read_text().count("\n") >= 4)
    finally:
        server.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
    written = log.read_text()
    assert written.count("/static/") >= 4 and "[redacted]" in written
    for secret in SECRETS:
        assert secret not in written, written
