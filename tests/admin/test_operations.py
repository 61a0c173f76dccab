"""Tool administration at work: deliveries still retrying and those that failed (with what
to do, dismiss, send again), key rotation from the page (published before it signs, the old
key kept for the overlap), the audit-log viewer and its chain check, and the registration
page inside Moodle's dialog."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import requests
import sqlalchemy as sa
from flask import Flask

from lti_tool.audit.models import AuditEvent
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.outbox.models import DISMISSED, FAILED, PENDING, OutboxMessage
from tests.lti.test_registration import _register
from tests.support.browser import FormBrowser, launch
from tests.support.pages import fill, text


def _message(app: Flask, **values: Any) -> int:
    with app.app_context():
        row = OutboxMessage(kind="email", ordering_key=f"email:x{values['summary']}",
                            payload="{}", **values)
        db.session.add(row)
        db.session.commit()
        return int(row.id)


def test_failed_and_retrying_deliveries_with_what_to_do(app: Flask, registered: Any,
                                                         moodle: Any,
                                                         browser: FormBrowser) -> None:
    base = app.config["BASE_URL"]
    refused = _message(app, summary="Score for Lena", status=FAILED,
                       last_error="Moodle refused the score (HTTP 401): invalid token")
    _message(app, summary="Email to a@…", status=FAILED,
             last_error="the mail server refused the address a@…")
    _message(app, summary="Email to b@…", status=PENDING, attempts=3,
             next_attempt_at=utcnow() + timedelta(minutes=4),
             created_at=utcnow() - timedelta(hours=5),
             last_error="the mail server could not be reached: Connection refused")
    launch(browser, moodle, "admin")
    page = browser.open(base + "/admin/")
    words = text(page)
    # The queue's figures beside the lists (the launch queued nothing).
    assert ("Waiting to be sent 1 Oldest waiting since queued 5 hours "
            "Failed, not sent 2") in words
    assert "register it again" in words  # the 401
    assert "Correct it in their Moodle profile" in words  # the refused address
    assert "Calls to Moodle or email still being retried" in words
    assert "the mail server could not be reached" in words and "The tool retries" in words

    dismissed = fill(browser, page, f"/admin/outbox/{refused}/dismiss", {})
    assert "Dismissed: it will not be sent" in text(dismissed)
    assert "Score for Lena" not in text(dismissed)
    with app.app_context():
        assert db.session.get(OutboxMessage, refused).status == DISMISSED  # kept
        assert db.session.scalar(sa.select(AuditEvent.action).order_by(
            AuditEvent.seq.desc()).limit(1)) == "outbox.dismissed"
    # Gone from the failed list: a new attempt to dismiss it is a 404.
    fresh = browser.open(base + "/admin/")
    assert f"/admin/outbox/{refused}/" not in fresh.text
    from tests.support.pages import post_form

    again = post_form(browser, fresh, {}, action=f"{base}/admin/outbox/{refused}/dismiss")
    assert again.status_code == 404


def test_rotate_keys_from_the_page(app: Flask, registered: Any, moodle: Any,
                                   browser: FormBrowser) -> None:
    base = app.config["BASE_URL"]
    launch(browser, moodle, "admin")
    page = browser.open(base + "/admin/")
    (before,) = requests.get(base + "/lti/jwks", timeout=10).json()["keys"]
    rotated = fill(browser, page, "/admin/keys/rotate", {})
    assert "New key published." in text(rotated)
    kids = [k["kid"] for k in requests.get(base + "/lti/jwks", timeout=10).json()["keys"]]
    assert len(kids) == 2 and kids[1] == before["kid"]  # the new one is published first...
    with app.app_context():
        from lti_tool.lti.keystore import key_store

        assert key_store().current().kid == before["kid"]  # ...and the old one still signs
    assert "published, signs from" in text(rotated) and "signing now" in text(rotated)
    refused = fill(browser, rotated, "/admin/keys/rotate", {})
    assert "The new key is not signing yet" in text(refused)

    app.config["KEY_PUBLISH_AHEAD_SECONDS"] = 0
    with app.app_context():
        from lti_tool.lti.keystore import key_store

        key_store().rotate()  # (the command line: at once) the second key signs now
    page = browser.open(base + "/admin/")
    too_soon = fill(browser, page, "/admin/keys/rotate", {})
    assert "stopped signing less than 1 hour ago" in text(too_soon)
    assert len(requests.get(base + "/lti/jwks", timeout=10).json()["keys"]) == 2


def test_audit_log_viewer_and_the_chain_check(app: Flask, registered: Any, moodle: Any,
                                              browser: FormBrowser) -> None:
    base = app.config["BASE_URL"]
    launch(browser, moodle, "admin")
    page = browser.open(base + "/admin/audit")
    assert page.status_code == 200
    assert "Person created" in text(page) and "Moodle" in text(page)
    assert "person:" not in page.text and "platform:" not in page.text
    only = browser.open(base + "/admin/audit?action=platform.registered")
    assert "1 event shown" in text(only) and "Via: manual" in text(only)
    checked = fill(browser, page, "/admin/audit/verify", {})
    assert "The chain is whole" in text(checked)
    with app.app_context():
        db.session.execute(sa.update(AuditEvent).where(AuditEvent.seq == 1)
                           .values(details='{"tampered": true}'))
        db.session.commit()
    broken = fill(browser, page, "/admin/audit/verify", {})
    assert "The chain is broken: event 1 was altered" in text(broken)


def test_registration_page_in_moodles_dialog(app: Flask, tool: Any, moodle: Any) -> None:
    first = _register(app, moodle)
    assert first.status_code == 200
    assert "AIU is registered with" in first.text and "Activate" in first.text
    assert 'class="tool-nav"' not in first.text and "Tool pages" not in first.text
    (tool_reg,) = moodle.tools.values()
    second = _register(app, moodle, update_client_id=tool_reg.client_id)
    assert second.status_code == 200, second.text
    assert "registration with" in second.text and "is updated" in second.text
    assert "AIU is registered with" not in second.text
