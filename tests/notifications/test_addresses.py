"""The address an email goes to: exactly one well-formed address from the launch, or no email
at all (the person sees the news in the tool). A message that can never be sent fails
(shown to admins with a hint, addresses masked) and the worker goes on to the next one."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from lti_tool.extensions import db
from lti_tool.notifications.addresses import usable_address
from lti_tool.outbox import service as outbox
from lti_tool.outbox.handlers import EMAIL
from lti_tool.outbox.models import DELIVERED, FAILED, OutboxMessage
from tests.cases.flows import CHECKER, Courses, declare_as, panel, place_both, record
from tests.conftest import SmtpSink
from tests.support.browser import FormBrowser, launch
from tests.support.pages import text, wait_for

STRANGER = "stranger@evil.test"
BAD_CLAIMS = [
    f"learner1@example.test, {STRANGER}",
    f"learner1@example.test;{STRANGER}",
    f"learner1@example.test\r\nBcc: {STRANGER}",
    f"learner1@example.test\nBcc: {STRANGER}",
    f"Lena <learner1@example.test>, <{STRANGER}>",
    "learner1@",
]


@pytest.mark.parametrize("claim", BAD_CLAIMS)
def test_only_one_well_formed_address_is_used(claim: str) -> None:
    assert usable_address(claim) == ""


def test_a_plain_address_is_used_as_given() -> None:
    assert usable_address("  learner1@example.test ") == "learner1@example.test"


@pytest.fixture
def courses(app: Flask, registered: Any, moodle: Any) -> Courses:
    app.config.update(AI_CHECKERS=[CHECKER])
    return place_both(moodle)


@pytest.mark.parametrize("claim", [BAD_CLAIMS[0], BAD_CLAIMS[2]],
                         ids=["address list", "CRLF header"])
def test_a_crafted_email_claim_sends_nothing_to_a_stranger(
        app: Flask, courses: Courses, moodle: Any, smtp: SmtpSink, browser: FormBrowser,
        claim: str) -> None:
    moodle.user("learner1").email = claim  # what the learner typed into their Moodle profile
    declare_as(moodle, courses.cipd.id)
    page = panel(browser, moodle, "marker1", courses.cipd.id, "learner1")
    done = record(browser, page)
    assert done.status_code == 200, done.text
    assert "Moodle has no usable email address for" in text(done)
    with app.app_context():
        queued = [json.loads(m.payload)["to"] for m in db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.kind == EMAIL))]
    assert queued == []
    # The learner still sees the question in the tool.
    with FormBrowser() as learner:
        own = launch(learner, moodle, "learner1", courses.cipd.id)
        assert "You have been asked a question" in text(own)
    assert all(STRANGER not in str(m) for m in smtp.messages)


def _queue(app: Flask, payload: dict[str, Any], kind: str = EMAIL) -> int:
    with app.app_context():
        message = outbox.enqueue(kind, payload, ordering_key=f"test:{len(str(payload))}")
        db.session.commit()
        return message.id


def _status(app: Flask, message_id: int) -> tuple[str, str]:
    with app.app_context():
        message = db.session.get(OutboxMessage, message_id)
        assert message is not None
        return message.status, message.last_error or ""


def test_a_poisoned_message_fails_and_the_worker_delivers_the_next(
        app: Flask, runner: Any, smtp: SmtpSink) -> None:
    # Queued before addresses were checked (or written by hand): a header injection.
    poisoned = _queue(app, {"to": f"learner1@example.test\r\nBcc: {STRANGER}",
                            "subject": "Question", "text": "Answer here", "html": ""})
    broken = _queue(app, {"to": "learner3@example.test"})  # no subject: the handler throws
    good = _queue(app, {"to": "learner1@example.test", "subject": "Next", "text": "Hello",
                        "html": ""})
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    status, error = _status(app, poisoned)
    assert status == FAILED and "not one valid address" in error
    status, error = _status(app, broken)
    assert status == FAILED and "unexpected error (KeyError)" in error
    assert _status(app, good)[0] == DELIVERED
    wait_for(lambda: len(smtp.messages) == 1)
    assert [m["To"] for m in smtp.messages] == ["learner1@example.test"]


def test_the_worker_survives_any_handler_error(app: Flask, runner: Any,
                                                smtp: SmtpSink) -> None:
    @outbox.handler("test.explodes")
    def explode(message: OutboxMessage, payload: dict[str, Any]) -> outbox.Delivered:
        db.session.execute(sa.text("SELECT no_such_column FROM outbox_message"))
        raise AssertionError("unreachable")

    try:
        exploding = _queue(app, {"x": 1}, kind="test.explodes")
        good = _queue(app, {"to": "learner1@example.test", "subject": "Next", "text": "Hi",
                            "html": ""})
        result = runner.invoke(args=["worker", "--once"])
        assert result.exit_code == 0, result.output
        status, error = _status(app, exploding)
        assert status == FAILED and "unexpected error" in error
        assert _status(app, good)[0] == DELIVERED
    finally:
        outbox._handlers.pop("test.explodes", None)


def test_admins_see_why_with_addresses_masked(app: Flask, registered: Any, moodle: Any,
                                              browser: FormBrowser) -> None:
    failed = _queue(app, {"to": "learner1@example.test\r\nBcc: x@evil.test",
                          "subject": "Q", "text": "T", "html": ""})
    with app.app_context():
        message = db.session.get(OutboxMessage, failed)
        assert message is not None
        message.summary = "Email 'Q' to learner1@example.test"
        db.session.commit()
        outbox.deliver_due()
    launch(browser, moodle, "admin")
    page = browser.open(str(app.config["BASE_URL"]) + "/admin/")
    shown = text(page)
    assert "not one valid address" in shown and "correct the address in Moodle" in shown
    assert "learner1@example.test" not in page.text and "l@…" in shown
    assert _status(app, failed)[0] == FAILED
