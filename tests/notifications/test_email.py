"""``send_email``: rendered from both templates into the outbox, or nothing without an
address."""

from __future__ import annotations

import json
from datetime import date
from types import SimpleNamespace

import sqlalchemy as sa
from flask import Flask

from lti_tool.extensions import db
from lti_tool.notifications.service import send_email
from lti_tool.outbox.models import OutboxMessage
from lti_tool.requests.models import SCOPE_LABELS


def _context() -> dict[str, object]:
    learner = SimpleNamespace(given_name="Lena", display_name="Lena Learner")
    req = SimpleNamespace(tool_name="<Copilot>", course=SimpleNamespace(display_name="CIPD"))
    decision = SimpleNamespace(outcome="approved", scope="course", expires_on=date(2099, 7, 31),
                               conditions="Plan only <b>before</b> starting", reason="",
                               question="")
    return {"learner": learner, "req": req, "decision": decision, "scope_labels": SCOPE_LABELS}


def test_renders_text_and_html_into_the_outbox(app: Flask) -> None:
    with app.app_context():
        message = send_email("lena@example.test", "Approved", "request_decision",
                             platform_id=None, **_context())
        assert message is not None
        db.session.commit()
        payload = json.loads(message.payload)
    assert payload["to"] == "lena@example.test" and payload["subject"] == "Approved"
    assert "Plan only <b>before</b> starting" in payload["text"]  # plain text: as written
    assert "Plan only &lt;b&gt;before&lt;/b&gt; starting" in payload["html"]  # escaped
    assert "31 July 2099" in payload["text"] and "Dear Lena" in payload["html"]
    assert message.ordering_key.startswith("email:") and "lena" not in message.ordering_key


def test_no_address_no_email(app: Flask) -> None:
    with app.app_context():
        assert send_email("", "Approved", "request_decision", **_context()) is None
        assert send_email("  ", "Approved", "request_decision", **_context()) is None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
