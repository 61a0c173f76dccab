"""Checks the learner takes part in, through launches: a dated plan reuses the check planned
when the case was raised (never an undated copy left behind); moving or cancelling needs a
reason, is a new event (earlier ones unchanged) and emails the learner (real SMTP); a
professional discussion's record has two parts; the learner comments on the record."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from lti_tool.cases.models import AuthenticityCheck, IncidentEvent
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
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
from tests.support.pages import confirm, post_form

PD = "professional discussion"


def _day(days: int) -> str:
    return (utcnow().date() + timedelta(days=days)).isoformat()


def _checks(app: Flask) -> list[AuthenticityCheck]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(AuthenticityCheck)
                                       .order_by(AuthenticityCheck.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def _events(app: Flask) -> list[tuple[int, str, dict[str, Any]]]:
    with app.app_context():
        return [(e.seq, e.kind, json.loads(e.data)) for e in db.session.scalars(
            sa.select(IncidentEvent).order_by(IncidentEvent.incident_id, IncidentEvent.seq))]


def _mail(smtp: SmtpSink, subject_part: str) -> Any:
    wait_for(lambda: any(subject_part in m["Subject"] for m in not_receipts(smtp)))
    return [m for m in not_receipts(smtp) if subject_part in m["Subject"]][-1]


def _text(message: Any) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return str(part.get_payload(decode=True).decode("utf-8"))
    raise AssertionError("no text part")


def _raise_with_planned_discussion(browser: FormBrowser, moodle: Any,
                                   courses: Courses) -> str:
    page = record(browser, panel(browser, moodle, "marker1", courses.cipd.id, "learner1"),
                  extra={"planned_checks": [PD]})
    assert page.status_code == 200, page.text
    return incident_url(page)


def _plan(browser: FormBrowser, url: str, **fields: str) -> Any:
    return post_form(browser, browser.open(url), {f"plan-{k}": v for k, v in fields.items()},
                     action=url + "/checks")


def test_planning_with_a_date_gives_the_undated_check_its_date(
        app: Flask, declared: Courses, moodle: Any, smtp: SmtpSink,
        browser: FormBrowser) -> None:
    url = _raise_with_planned_discussion(browser, moodle, declared)
    (undated,) = _checks(app)
    assert undated.planned_for is None
    done = _plan(browser, url, method=PD, planned_for=_day(7), planned_time="14:30",
                 location="Room 4, Leep House", about="How you wrote section 2",
                 preparation="Bring your notes and drafts")
    assert done.status_code == 200, done.text
    (check,) = _checks(app)  # the same check, dated: no undated copy left behind
    assert check.id == undated.id and check.planned_for is not None
    assert (check.planned_time, check.location) == ("14:30", "Room 4, Leep House")
    kinds = [k for _, k, d in _events(app) if d.get("check_id") == check.id]
    assert kinds == ["check_planned", "check_scheduled"]
    email = _mail(smtp, "Your professional discussion about Unit 1 assignment: arranged")
    assert email["To"] == "learner1@example.test"
    body = " ".join(_text(email).split())
    for expected in ("at 14:30", "Room 4, Leep House", "How you wrote section 2",
                     "Bring your notes and drafts", "support person",
                     "reasonable adjustments"):
        assert expected in body, expected
    # A second dated plan of another method is a new check; a past date is refused.
    before = row_counts(app)
    bad = _plan(browser, url, method="questioning", planned_for=_day(3), planned_time="25:00")
    assert bad.status_code == 400 and "Enter the time as hours and minutes" in bad.text
    assert row_counts(app) == before
    assert _plan(browser, url, method="questioning", planned_for=_day(3)).status_code == 200
    assert [c.method for c in _checks(app)] == [PD, "questioning"]


def test_moving_and_cancelling_need_a_reason_and_email_the_learner(
        app: Flask, declared: Courses, moodle: Any, smtp: SmtpSink,
        browser: FormBrowser) -> None:
    url = _raise_with_planned_discussion(browser, moodle, declared)
    _plan(browser, url, method=PD, planned_for=_day(7), planned_time="10:00",
          location="https://meet.example/abc")
    (check,) = _checks(app)
    move = f"{url}/checks/{check.id}/reschedule"
    before = row_counts(app)
    refused = post_form(browser, browser.open(url), {f"move{check.id}-planned_for": _day(9),
                                                     f"move{check.id}-reason": "  "},
                        action=move)
    assert refused.status_code == 400 and "Give the reason for the change" in refused.text
    assert row_counts(app) == before
    moved = post_form(browser, browser.open(url), {
        f"move{check.id}-planned_for": _day(9), f"move{check.id}-planned_time": "11:15",
        f"move{check.id}-location": "Room 2", f"move{check.id}-reason":
        "The learner asked for a later date to arrange a support worker."}, action=move)
    assert moved.status_code == 200, moved.text
    assert "The professional discussion is moved" in moved.text
    (check,) = _checks(app)
    assert (check.planned_time, check.location) == ("11:15", "Room 2")
    email = _mail(smtp, "professional discussion about Unit 1 assignment: moved")
    body = " ".join(_text(email).split())
    assert "to arrange a support worker" in body and "at 11:15" in body and "Room 2" in body
    # Append-only: the earlier schedule is still in its own event, the move is a new one.
    events = [(k, d) for _, k, d in _events(app) if d.get("check_id") == check.id]
    assert events[1][0] == "check_scheduled" and events[1][1]["planned_time"] == "10:00"
    assert events[2][0] == "check_rescheduled"
    assert events[2][1]["from"]["planned_time"] == "10:00"
    assert "Moved" in moved.text or "moved" in moved.text

    asked = post_form(browser, browser.open(url), {
        f"cancel{check.id}-reason": "The triangulation of evidence settled the question."},
        action=f"{url}/checks/{check.id}/cancel")
    assert "Cancel the professional discussion?" in asked.text
    assert "settled the question" in asked.text
    assert _checks(app)[0].cancelled_at is None  # nothing written before confirming
    cancelled = confirm(browser, asked)
    assert cancelled.status_code == 200, cancelled.text
    (check,) = _checks(app)
    assert check.cancelled_at is not None
    email = _mail(smtp, "professional discussion about Unit 1 assignment: cancelled")
    assert "settled the question" in _text(email)
    # A cancelled check can no longer be moved.
    again = post_form(browser, browser.open(url), {
        f"move{check.id}-planned_for": _day(9), f"move{check.id}-reason": "Another try"},
        action=move)
    assert again.status_code == 409


def test_a_professional_discussion_record_has_two_parts_and_the_learner_comments(
        app: Flask, declared: Courses, moodle: Any, smtp: SmtpSink,
        browser: FormBrowser) -> None:
    url = _raise_with_planned_discussion(browser, moodle, declared)
    (check,) = _checks(app)
    record_url = f"{url}/checks/{check.id}"
    fields = {f"check{check.id}-done_on": _day(0), f"check{check.id}-conducted_by":
              "Maria Marker", f"check{check.id}-outcome": "supports",
              f"check{check.id}-notes": "Forty minutes, on Teams.",
              f"check{check.id}-subject_knowledge": "Explained psychological contracts well."}
    before = row_counts(app)
    half = post_form(browser, browser.open(url), fields, action=record_url)
    assert half.status_code == 400 and "how the learner produced the work" in half.text
    assert row_counts(app) == before
    fields[f"check{check.id}-production"] = "Showed three drafts and her reading notes."
    done = post_form(browser, browser.open(url), fields, action=record_url)
    assert done.status_code == 200, done.text
    assert "Showed three drafts" in done.text and "psychological contracts" in done.text
    _mail(smtp, "professional discussion about Unit 1 assignment: recorded")

    with FormBrowser() as learner:
        landing = launch(learner, moodle, "learner1", declared.cipd.id)
        base = landing.url.split('/learner/')[0]
        mine = learner.open(f"{base}/learner/cases")  # My AI-use cases links to the check
        link = re.search(r'<a href="([^"]*/learner/checks/\d+)">The record of this check',
                         mine.text)
        assert link and link.group(1).endswith(f"/learner/checks/{check.id}"), mine.text
        page = learner.open(f"{base}/learner/checks/{check.id}")
        assert page.status_code == 200, page.text
        assert "How the learner produced the work" in page.text
        assert "Showed three drafts" in page.text
        empty = post_form(learner, page, {"comment": " "})
        assert empty.status_code == 400 and "Write your comment." in empty.text
        added = post_form(learner, page, {"comment": "I also showed my version history."})
        assert added.status_code == 200, added.text
        assert "I also showed my version history." in added.text
    with FormBrowser() as other:
        landing = launch(other, moodle, "learner2", declared.cipd.id)
        refused = other.open(f"{landing.url.split('/learner/')[0]}/learner/checks/{check.id}")
        assert refused.status_code == 404
    assert "I also showed my version history." in browser.open(url).text
    (incident,) = incidents(app)
    assert [k for _, k, d in _events(app) if k == "check_commented"] == ["check_commented"]
    assert incident.id
