"""Dynamic Registration against a hostile or tricked platform: what the remote host answers
is never shown on the tool's page, the connection goes to the address that was checked (no
second DNS lookup), and one invite makes one registration even when used twice at once."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
import requests
import sqlalchemy as sa
import urllib3.util.connection
from flask import Flask

from lti_tool.extensions import db
from lti_tool.lti import http
from lti_tool.platforms.models import Platform
from tests.conftest import row_counts
from tests.lti.test_registration import _invite
from tests.support.pages import text

SCRIPT = "<script>alert('pwned')</script><h1>Evil Corp says hi</h1>"


@pytest.mark.parametrize("endpoint, status, message", [
    ("registration", 400, "Moodle refused the registration (HTTP 400)"),
    ("openid-configuration", 200, "Moodle's configuration is not valid JSON"),
], ids=["registration endpoint", "configuration endpoint"])
def test_a_remote_html_body_is_never_reflected(app: Flask, tool: Any, moodle: Any,
                                               caplog: pytest.LogCaptureFixture,
                                               endpoint: str, status: int,
                                               message: str) -> None:
    url = _invite(app)
    moodle.fail_next(1, status, SCRIPT, only=endpoint)
    before = row_counts(app)
    resp = requests.get(moodle.start_registration(url), timeout=10)
    assert resp.status_code == 400
    assert message in text(resp)
    assert "pwned" not in resp.text and "Evil Corp" not in resp.text
    assert row_counts(app) == before
    if endpoint == "registration":
        logged = [r.getMessage() for r in caplog.records if "registration_refused" in
                  r.getMessage()]
        assert logged and "status=400" in logged[0] and "\n" not in logged[0]


class FlippingResolver:
    """A DNS server that answers ``first`` once and ``later`` ever after (rebinding)."""

    def __init__(self, first: str, later: str) -> None:
        self.answers = [first, later]
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return [self.answers[0] if len(self.lookups) == 1 else self.answers[1]]


def test_https_connects_to_the_checked_public_address_not_a_rebound_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    stub = FlippingResolver("93.184.215.14", "127.0.0.1")
    monkeypatch.setattr(http, "resolver", stub)
    dialled: list[tuple[str, int]] = []

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        dialled.append(address)
        raise ConnectionRefusedError("no network here")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    with pytest.raises(http.FetchFailed):
        http.call("GET", "https://moodle.rebind.test/mod/lti/openid-configuration.php",
                  allow_insecure=False, timeout=2, max_bytes=10_000)
    assert stub.lookups == ["moodle.rebind.test"]  # resolved once
    assert dialled == [("93.184.215.14", 443)]  # and dialled what was checked


def test_a_private_answer_is_refused_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "resolver", FlippingResolver("10.0.0.5", "93.184.215.14"))
    with pytest.raises(http.UnsafeURL):
        http.call("GET", "https://moodle.rebind.test/x", allow_insecure=False, timeout=2,
                  max_bytes=10_000)


def test_the_request_reaches_the_first_answer_with_the_name_as_host(
        moodle: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Real HTTP to the stand-in: the name resolves to it once, then to an unroutable address.
    stub = FlippingResolver("127.0.0.1", "10.255.255.1")
    monkeypatch.setattr(http, "resolver", stub)
    port = moodle.issuer.rsplit(":", 1)[1]
    reply = http.call("POST", f"http://moodle.rebind.test:{port}/mod/lti/token.php",
                      allow_insecure=True, timeout=3, max_bytes=100_000,
                      data={"grant_type": "client_credentials"})
    assert reply.status == 400 and "invalid" in reply.text()  # Moodle's own answer
    assert stub.lookups == ["moodle.rebind.test"]
    (seen,) = [e for e in moodle.requests_log if e.path.endswith("/token.php")]
    assert seen.headers["Host"] == f"moodle.rebind.test:{port}"
    assert seen.form == {"grant_type": "client_credentials"}


def test_two_parallel_uses_of_one_invite_make_one_registration(
        app: Flask, tool: Any, moodle: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    url = _invite(app)
    dialogs = [moodle.start_registration(url) for _ in range(2)]  # two Moodle tabs
    moodle.delay_seconds = 0.4  # both are in flight at the same time
    start = threading.Barrier(2)
    answers: list[requests.Response] = []

    def use(opened: str) -> None:
        start.wait(5)
        answers.append(requests.get(opened, timeout=30))

    threads = [threading.Thread(target=use, args=(d,)) for d in dialogs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    moodle.delay_seconds = 0
    assert sorted(a.status_code for a in answers) == [200, 410]
    assert "already been used" in next(a.text for a in answers if a.status_code == 410)
    assert len(moodle.tools) == 1  # Moodle was asked to register once
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Platform)) == 1
