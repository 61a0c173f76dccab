"""The learner is emailed (through the outbox, to a real SMTP server) and answers "how could
this have occurred?" by a single-use, expiring link or from their own launch; a reminder goes
once if they do not answer."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import requests
import sqlalchemy as sa
from flask import Flask

from lti_tool.cases.answers import answer
from lti_tool.cases.models import ANSWERED, AnswerLink, Incident, IncidentEvent
from lti_tool.cases.raising import send_due_reminders
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.outbox.models import OutboxMessage
from tests.cases.flows import (
    Courses,
    incident_url,
    incidents,
    not_receipts,
    panel,
    record,
    wait_for,
)
from tests.conftest import SmtpSink, row_counts
from tests.support.browser import FormBrowser, launch
from tests.support.pages import post_form
from tests.support.pages import text as page_text

LINK = re.compile(r"http://localhost:\d+/learner/answer/[\w.\-]+")


def _body(message: Any, subtype: str = "plain") -> str:
    for part in message.walk():
        if part.get_content_type() == f"text/{subtype}":
            return str(part.get_payload(decode=True).decode(part.get_content_charset()
                                                            or "utf-8"))
    raise AssertionError(f"no text/{subtype} part")




def _question(smtp: SmtpSink, to: str = "learner1@example.test") -> Any:
    wait_for(lambda: any(m["To"] == to for m in not_receipts(smtp)))
    return [m for m in not_receipts(smtp) if m["To"] == to][-1]


def test_email_and_answer_loop(app: Flask, declared: Courses, moodle: Any, smtp: SmtpSink,
                               browser: FormBrowser) -> None:
    url = incident_url(record(browser, panel(browser, moodle, "marker1", declared.cipd.id,
                                             "learner1")))
    email = _question(smtp)
    assert email["Subject"] == "A question about your work for Unit 1 assignment"
    text, html = _body(email), _body(email, "html")
    assert "how could this have occurred?" in text and "No decision has been made" in text
    (link,) = set(LINK.findall(text))
    assert link in html
    # The link opens the answer form without any Moodle launch (a fresh browser).
    with FormBrowser() as mail_client:
        form = mail_client.open(link)
        assert form.status_code == 200, form.text
        assert "How could this have occurred?" in form.text
        empty = post_form(mail_client, form, {"answer": "   "})
        assert empty.status_code == 400 and "Write your answer." in empty.text
        sent = post_form(mail_client, form, {"answer": "I used a grammar checker after "
                                             "writing, not knowing it rewrote sentences."})
        assert sent.status_code == 200, sent.text
        assert "your answer has been sent" in sent.text
        # Single use: the same link is refused afterwards, and nothing is written.
        before = row_counts(app)
        again = mail_client.open(link)
        assert again.status_code == 410 and "Your answer has already arrived" in again.text
        shown = page_text(again).split("Reference for support")[0]
        assert "Error 410" not in again.text and "answer_link_used" not in shown
        assert row_counts(app) == before
    (incident,) = incidents(app)
    assert incident.state == ANSWERED
    detail = browser.open(url)
    assert "grammar checker after writing" in detail.text
    assert "through the emailed link" in detail.text
    marker_email = _question(smtp, "marker1@example.test")
    assert "Lena Learner has answered" in marker_email["Subject"]


def test_link_expires(app: Flask, declared: Courses, moodle: Any, smtp: SmtpSink,
                      browser: FormBrowser) -> None:
    record(browser, panel(browser, moodle, "marker1", declared.cipd.id, "learner1"))
    (link,) = set(LINK.findall(_body(_question(smtp))))
    with app.app_context():
        db.session.execute(sa.update(AnswerLink).values(expires_at=utcnow() - timedelta(
            minutes=1)))
        db.session.commit()
    answer = requests.get(link, timeout=10)
    assert answer.status_code == 410 and "This link has expired" in answer.text


def test_link_is_refused_for_anyone_else(app: Flask, declared: Courses, moodle: Any,
                                         smtp: SmtpSink, browser: FormBrowser) -> None:
    record(browser, panel(browser, moodle, "marker1", declared.cipd.id, "learner1"))
    (link,) = set(LINK.findall(_body(_question(smtp))))
    with FormBrowser() as other:
        launch(other, moodle, "learner2", declared.cipd.id)  # signed in as someone else
        refused = other.open(link)
        assert refused.status_code == 403 and "sent to someone else" in refused.text
    with FormBrowser() as staff:
        launch(staff, moodle, "marker1", declared.cipd.id)
        assert staff.open(link).status_code == 403
    tampered = link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb")
    assert requests.get(tampered, timeout=10).status_code == 404
    assert requests.get(link.rsplit("/", 1)[0] + "/not-a-token", timeout=10).status_code == 404
    # The rightful learner still can (nothing was used up by the refusals).
    assert requests.get(link, timeout=10).status_code == 200


def test_learner_answers_from_their_own_launch(app: Flask, declared: Courses, moodle: Any,
                                               smtp: SmtpSink, browser: FormBrowser) -> None:
    record(browser, panel(browser, moodle, "marker1", declared.cipd.id, "learner1"))
    (link,) = set(LINK.findall(_body(_question(smtp))))
    (incident,) = incidents(app)
    with FormBrowser() as other:
        launch(other, moodle, "learner2", declared.cipd.id)
        page = other.open(app.config["BASE_URL"] + f"/learner/incidents/{incident.id}/answer")
        assert page.status_code == 403
    with FormBrowser() as learner:
        # Also from the other course's activity: the question is the learner's own.
        page = launch(learner, moodle, "learner1", declared.cmi.id)
        assert "You have been asked a question" in page.text
        form = learner.open(app.config["BASE_URL"] + f"/learner/incidents/{incident.id}/answer")
        assert form.status_code == 200
        done = post_form(learner, form, {"answer": "I wrote it myself from my notes."})
        assert done.status_code == 200 and "your answer has been sent" in done.text
        assert "You answered the question" in done.text
    assert requests.get(link, timeout=10).status_code == 410
    assert incidents(app)[0].state == ANSWERED
    with app.app_context():
        via = db.session.scalar(sa.select(IncidentEvent.data).where(
            IncidentEvent.kind == "answered"))
        assert via is not None and '"via": "moodle"' in via


def test_reminder_is_sent_once_to_those_who_have_not_answered(
        app: Flask, declared: Courses, moodle: Any, smtp: SmtpSink, runner: Any,
        browser: FormBrowser) -> None:
    page = panel(browser, moodle, "marker1", declared.cipd.id, "learner1")
    record(browser, page)
    record(browser, page, observations="A second concern, answered already.")
    wait_for(lambda: len(not_receipts(smtp)) == 2)
    first, second = incidents(app)
    with app.app_context():
        learner = db.session.get(Incident, second.id)
        assert learner is not None
        answer(learner, learner.learner, "Answered.", via="moodle")
        hours = app.config["INCIDENT_REMINDER_HOURS"]
        db.session.execute(sa.update(Incident).values(
            raised_at=utcnow() - timedelta(hours=hours, minutes=1)))
        db.session.commit()
        assert send_due_reminders(utcnow() - timedelta(hours=1)) == 0  # not yet due
        db.session.rollback()
    before = len(smtp.messages)
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 reminder queued" in result.output
    reminders = [m for m in smtp.messages[before:] if m["Subject"].startswith("Reminder:")]
    assert len(reminders) == 1 and reminders[0]["To"] == "learner1@example.test"
    assert LINK.search(_body(reminders[0]))
    # Idempotent: a second run (or a second worker) sends nothing more.
    again = runner.invoke(args=["worker", "--once"])
    assert "reminder" not in again.output
    with app.app_context():
        assert send_due_reminders() == 0
        kinds = list(db.session.scalars(sa.select(IncidentEvent.kind).where(
            IncidentEvent.incident_id == first.id)))
        assert kinds.count("reminder_sent") == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
            OutboxMessage.summary.like("Email 'Reminder:%"))) == 1
