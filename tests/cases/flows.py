"""Whole-flow helpers for the incident tests: place the declaration activity in both courses,
declare, open a learner's panel through a gradebook review launch, record an incident,
decide, answer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from flask import Flask

from lti_tool.cases.models import Incident
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.people.models import Person
from tests.declarations.test_declarations import GOOD, declare, deep_link, wait_for
from tests.support.browser import FormBrowser, launch
from tests.support.pages import FieldValue, confirm, post_form

# The app of the running test (set by tests/cases/conftest.py), for the few steps a person
# cannot take through a page, such as letting the learner's answer deadline pass.
APP: Flask | None = None
# AIU v1.0's outcome keys (config/policy/aiu-1.0.json), as a decider's form sends them.
ACTION_PROFESSIONAL_DISCUSSION = "professional_discussion"
ACTION_REPORT_TO_AWARDING_BODY = "report_to_awarding_body"

REVIEW = "LtiSubmissionReviewRequest"
CHECKER = "Turnitin AI writing detection"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

__all__ = ["GOOD", "declare", "wait_for"]


@dataclass
class Courses:
    """The declaration activity deep-linked in course 2 (marker1) and course 3 (marker2)."""

    cipd: Any
    cmi: Any


def place_both(moodle: Any) -> Courses:
    with FormBrowser() as teacher:
        cipd = deep_link(teacher, moodle, title="Unit 1 declaration", qualification="CIPD")
    with FormBrowser() as teacher:
        cmi = deep_link(teacher, moodle, title="Unit 7 declaration", qualification="CMI",
                        user="marker2", course_id=3)
    return Courses(cipd, cmi)


def declare_as(moodle: Any, activity_id: int, user: str = "learner1",
               name: str = "Lena Learner") -> None:
    with FormBrowser() as learner:
        receipt = declare(learner, moodle, activity_id, user, {**GOOD, "signature": name})
        assert receipt.status_code == 200, receipt.text


def panel(browser: FormBrowser, moodle: Any, marker: str, activity_id: int,
          learner: str) -> requests.Response:
    """The learner's panel, opened as Moodle's gradebook "Grade analysis" does."""
    page = launch(browser, moodle, marker, activity_id, message_type=REVIEW, for_user=learner)
    assert page.status_code == 200, page.text
    assert "/learners/" in page.url, page.url
    return page


def record(browser: FormBrowser, panel_page: requests.Response, *,
           source: str = CHECKER, result: str = "82% likely AI-generated",
           observations: str = "The style changes abruptly in section 2.",
           extra: dict[str, FieldValue] | None = None,
           files: dict[str, tuple[str, bytes, str]] | None = None) -> requests.Response:
    """Fill in "Record an incident" from the learner's panel."""
    form = browser.open(panel_page.url + "/incidents/new")
    assert form.status_code == 200, form.text
    fields: dict[str, FieldValue] = {"source": source, "checker_result": result,
                                     "observations": observations}
    fields.update(extra or {})
    asked = post_form(browser, form, {k: v for k, v in fields.items() if v != ""},
                      files=files)
    return confirm(browser, asked) if asks_confirmation(asked) else asked


def asks_confirmation(page: requests.Response) -> bool:
    return page.status_code == 200 and 'name="confirmation"' in page.text


def incident_url(page: requests.Response) -> str:
    match = re.search(r"/staff/placements/\d+/incidents/\d+", page.url)
    assert match, page.url
    return page.url[:page.url.index(match.group(0))] + match.group(0)


def decide(browser: FormBrowser, incident_page_url: str, outcome: str = "upheld",
           reasons: str = "The answer did not explain the AI-generated sections.", *,
           independent: bool = True, acknowledge: bool = True, confirmed: bool = True,
           **extra: FieldValue) -> requests.Response:
    """Fill in the decision form and confirm it. For ``upheld`` the evidence relied on is
    every item offered (after adding a specific observation when ``independent`` and the
    case has none), with reasons about the learner's account; with ``without_answer`` the
    learner's deadline is first moved into the past (as if the window had run out)."""
    if extra.pop("without_answer", None):
        let_deadline_pass(int(incident_page_url.rsplit("/", 1)[1]))
        extra.setdefault("without_answer_reason", "The learner did not answer in time.")
    page = browser.open(incident_page_url)
    assert page.status_code == 200, page.text
    if outcome == "upheld" and independent and not _independent_sources(page.text):
        post_form(browser, page, {"evidence-label": "A specific observation",
                                  "evidence-text": "Section 2 cites a report that does not "
                                                   "exist."},
                  action=incident_page_url + "/evidence")
        page = browser.open(incident_page_url)
    fields: dict[str, FieldValue] = {"decision-outcome": outcome, "decision-reasons": reasons,
                                     "decision-expected_stage": _expected(page.text)}
    if outcome == "upheld":
        fields["decision-relied_on"] = re.findall(
            r'name="decision-relied_on"[^>]*value="([^"]+)"', page.text)
        fields["decision-account_reasons"] = "The answer does not explain the sections."
    if acknowledge and 'name="decision-acknowledged"' in page.text:
        fields["decision-acknowledged"] = "y"
    fields.update({f"decision-{k}": v for k, v in extra.items()})
    asked = post_form(browser, page, fields, action=incident_page_url + "/decision")
    return confirm(browser, asked) if confirmed and asks_confirmation(asked) else asked


def _independent_sources(html: str) -> list[str]:
    values = re.findall(r'name="decision-relied_on"[^>]*value="([^"]+)"[^>]*>\s*<label[^>]*>'
                        r'([^<]*)', html)
    return [v for v, label in values if "needs human judgement" not in label]


def let_deadline_pass(incident_id: int) -> None:
    """The learner's answer deadline is now in the past."""
    assert APP is not None
    with APP.app_context():
        incident = db.session.get(Incident, incident_id)
        assert incident is not None
        incident.answer_due_at = utcnow() - timedelta(minutes=1)
        db.session.commit()


def uphold(moodle: Any, marker: str, activity_id: int, learner: str = "learner1", *,
           files: dict[str, tuple[str, bytes, str]] | None = None,
           **extra: FieldValue) -> str:
    """Record an incident (with ``files`` as its further evidence) for ``learner`` and
    uphold it without their answer, in a browser of its own; returns the incident's URL."""
    with FormBrowser() as browser:
        page = record(browser, panel(browser, moodle, marker, activity_id, learner),
                      extra={"evidence_label": "Earlier draft"} if files else None,
                      files=files)
        url = incident_url(page)
        done = decide(browser, url, without_answer="y", **extra)
        assert done.status_code == 200, done.text
        return url


def _expected(html: str) -> str:
    match = re.search(r'name="decision-expected_stage"[^>]*value="(\d)"', html) or re.search(
        r'value="(\d)"[^>]*name="decision-expected_stage"', html)
    assert match, "no expected stage on the page"
    return match.group(1)


def person_id(app: Flask, username_sub: str) -> int:
    with app.app_context():
        found = db.session.scalar(sa.select(Person.id).where(Person.sub == username_sub))
        assert found is not None
        return int(found)


def incidents(app: Flask) -> list[Incident]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(Incident).order_by(Incident.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def not_receipts(smtp: Any) -> list[Any]:
    """The messages other than declaration receipts (queued when the fixtures declare, they
    may arrive at any time once due)."""
    return [m for m in smtp.messages
            if not m["Subject"].startswith("Your AI use declaration")]


JCQ = Path(__file__).resolve().parents[2] / "config" / "policy" / "jcq-fe-1.0.json"
JCQ_GOOD = {**GOOD, "permitted_uses": ["explain", "revision"]}


def jcq_activity(moodle: Any, qualification: str, *, user: str = "marker1",
                 course_id: int = 2, title: str = "Unit 3 declaration") -> Any:
    """A teacher places the activity under the JCQ example policy for ``qualification``."""
    with FormBrowser() as teacher:
        form = launch(teacher, moodle, user, message_type="LtiDeepLinkingRequest",
                      course_id=course_id)
        chosen = post_form(teacher, form, {
            "policy_reference": "NFC-AI", "shown_policy": "AIU", "title": title,
            "assignment_name": "Unit 3 assignment", "qualification": "CIPD",
            "permitted_uses": ["reading"]})
        assert chosen.status_code == 200, chosen.text
        done = post_form(teacher, chosen, {
            "policy_reference": "NFC-AI", "shown_policy": "NFC-AI", "title": title,
            "assignment_name": "Unit 3 assignment", "qualification": qualification,
            "permitted_uses": ["explain", "revision"]})
        assert done.status_code == 200, done.text
        assert moodle.deep_link_results[-1].ok
        return moodle.activities[moodle.deep_link_results[-1].activity_ids[0]]


def declare_jcq(moodle: Any, activity_id: int) -> None:
    with FormBrowser() as learner:
        page = launch(learner, moodle, "learner1", activity_id)
        form = learner.open(page.url.rstrip("/") + "/declare")
        receipt = post_form(learner, form, {**JCQ_GOOD, "signature": "Lena Learner"})
        assert receipt.status_code == 200 and "NFC-AI v1.0" in receipt.text, receipt.text
