"""Nothing secret stays at rest longer than needed: a delivered email keeps only the masked
address, subject, template and times (never its answer link or body); sessions never keep
Moodle's sesskey (tests/lti/test_sesskey.py)."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from flask import Flask

from lti_tool.extensions import db
from lti_tool.outbox.handlers import EMAIL
from lti_tool.outbox.models import DELIVERED, OutboxMessage
from tests.cases.flows import declare_as, panel, place_both, record, wait_for
from tests.conftest import SmtpSink
from tests.support.browser import FormBrowser


def test_a_delivered_question_email_keeps_no_link_body_or_address(
        app: Flask, registered: Any, moodle: Any, smtp: SmtpSink,
        browser: FormBrowser) -> None:
    courses = place_both(moodle)
    declare_as(moodle, courses.cipd.id)
    record(browser, panel(browser, moodle, "marker1", courses.cipd.id, "learner1"))
    assert wait_for(lambda: any(m["Subject"].startswith("A question") for m in smtp.messages))
    sent = next(m for m in smtp.messages if m["Subject"].startswith("A question"))
    assert "/learner/answer/" in sent.as_string()  # the learner got the link ...

    def delivered() -> list[OutboxMessage]:
        with app.app_context():
            rows = list(db.session.scalars(sa.select(OutboxMessage).where(
                OutboxMessage.kind == EMAIL, OutboxMessage.status == DELIVERED)))
            db.session.expunge_all()
            return rows

    assert wait_for(lambda: any("question" in m.payload for m in delivered()))
    question = next(m for m in delivered() if "question" in m.payload)
    # ... and the tool keeps none of it: only what the admin page shows.
    assert json.loads(question.payload) == {
        "to": "l@…", "subject": "A question about your work for Unit 1 assignment",
        "template": "incident_question"}
    assert question.delivered_at is not None and question.created_at is not None
    for row in delivered():
        stored = " ".join([row.payload, row.summary, row.ordering_key, row.last_error])
        assert "learner1@example.test" not in stored and "/learner/answer/" not in stored
        assert "text" not in json.loads(row.payload) and "html" not in json.loads(row.payload)
        assert row.recipient_hash and len(row.recipient_hash) == 64
