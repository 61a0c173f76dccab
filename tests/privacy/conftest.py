"""A learner with data in every kind of record, made through real launches of the Moodle
stand-in: declarations in two courses (so the policy was seen), an AI-tool request approved
by the ALS team, an upheld case with evidence, their answer and a confidential staff note,
and a second learner with an open case of their own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from lti_tool.cases.models import Appeal, Incident
from lti_tool.extensions import db
from lti_tool.outbox.models import PENDING, OutboxMessage
from lti_tool.roles import service as roles
from lti_tool.roles.models import ALS, APPEAL_REVIEWER
from tests.cases.flows import (
    GOOD,
    PDF,
    Courses,
    decide,
    declare_as,
    incident_url,
    panel,
    person_id,
    place_both,
    record,
    wait_for,
)
from tests.conftest import SmtpSink
from tests.requests.conftest import AN_APPROVAL, ask, request_id
from tests.requests.conftest import decide as als_decide
from tests.support.browser import FormBrowser, launch
from tests.support.pages import confirm, platform_id, post_form

GOOD_AS_LENA = {**GOOD, "signature": "Lena Learner"}
CONFIDENTIAL_NOTE = "Deliberation: the second marker thinks the style is the learner's own."
ANSWER = "I wrote it myself from my notes and my drafts."


@dataclass
class Everything:
    courses: Courses
    learner_id: int  # learner1, Lena Learner
    other_id: int  # learner2, Liam Learnwell
    case_id: int  # learner1's upheld case
    other_case_id: int  # learner2's open case
    request_id: int


def _settled(app: Flask) -> bool:
    with app.app_context():
        waiting = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                                    .where(OutboxMessage.status == PENDING))
        db.session.remove()
        return waiting == 0


@pytest.fixture
def everything(app: Flask, registered: Any, moodle: Any, smtp: SmtpSink) -> Everything:
    app.config.update(AI_CHECKERS=["Turnitin AI writing detection"],
                      INCIDENT_MAX_UPLOAD_BYTES=400_000)
    courses = place_both(moodle)
    declare_as(moodle, courses.cipd.id)
    declare_as(moodle, courses.cmi.id)
    declare_as(moodle, courses.cipd.id, "learner2", "Liam Learnwell")
    with FormBrowser() as learner:  # the declaration of authentication, once submitted
        page = launch(learner, moodle, "learner1", courses.cipd.id)
        form = learner.open(page.url + "/authenticate")
        done = post_form(learner, form, {"confirmed": "y", "signature": "Lena Learner"})
        assert done.status_code == 200, done.text
    with FormBrowser() as teacher:  # an activity with the comprehension check
        form = launch(teacher, moodle, "marker1", message_type="LtiDeepLinkingRequest")
        assert post_form(teacher, form, {
            "title": "Checked", "assignment_name": "Unit 2", "qualification": "CIPD",
            "permitted_uses": ["reading", "planning", "criteria"],
            "comprehension_check": "y"}).status_code == 200
        checked = moodle.activities[moodle.deep_link_results[-1].activity_ids[0]]
    with FormBrowser() as learner:
        page = launch(learner, moodle, "learner1", checked.id)
        check = learner.open(page.url + "/check")
        passed = post_form(learner, check, {"q_spelling_after": "no",
                                            "q_reading_before": "yes", "q_company_data": "no"})
        assert post_form(learner, passed, GOOD_AS_LENA).status_code == 200

    with app.app_context():
        roles.grant(platform_id(app), ALS, actor="test", sub="6")
        db.session.commit()
    with FormBrowser() as learner, FormBrowser() as als:
        launch(learner, moodle, "learner1", courses.cipd.id)
        rid = request_id(ask(learner, app))
        launch(als, moodle, "als1", courses.cipd.id)
        assert als_decide(als, app, rid, AN_APPROVAL).status_code == 200

    with FormBrowser() as marker:
        page = record(marker, panel(marker, moodle, "marker1", courses.cipd.id, "learner1"),
                      files={"evidence_file": ("drafts.pdf", PDF, "application/pdf")},
                      extra={"evidence_label": "Comparison with earlier work"})
        url = incident_url(page)
        opened = marker.open(url)
        noted = post_form(marker, opened, {"note-text": CONFIDENTIAL_NOTE},
                          action=url + "/notes")
        assert noted.status_code == 200, noted.text
    with app.app_context():
        case_id = db.session.scalar(sa.select(sa.func.max(Incident.id)))
        assert case_id is not None
    with FormBrowser() as learner:
        launch(learner, moodle, "learner1", courses.cipd.id)
        form = learner.open(f"{app.config['BASE_URL']}/learner/incidents/{case_id}/answer")
        assert post_form(learner, form, {"answer": ANSWER}).status_code == 200
    with FormBrowser() as marker:
        panel(marker, moodle, "marker1", courses.cipd.id, "learner1")
        assert decide(marker, url).status_code == 200
        record(marker, panel(marker, moodle, "marker1", courses.cipd.id, "learner2"),
               observations="Learner 2's work: a different concern.")
    with app.app_context():
        other_case = db.session.scalar(sa.select(sa.func.max(Incident.id)))
        assert other_case is not None and other_case != case_id
    assert wait_for(lambda: _settled(app), timeout=20), "emails still waiting"
    return Everything(courses, person_id(app, "3"), person_id(app, "4"), case_id,
                      int(other_case), rid)


APPEAL_TEXT = "The checker misjudged my writing; my drafts show the work is mine."


def appeal_with_a_file(app: Flask, moodle: Any, everything: Everything) -> None:
    """learner1 appeals their upheld case, attaching a PDF, through the appeal form."""
    with FormBrowser() as learner:
        launch(learner, moodle, "learner1", everything.courses.cipd.id)
        form = learner.open(f"{app.config['BASE_URL']}/learner/cases/"
                            f"{everything.case_id}/appeal")
        assert form.status_code == 200, form.text
        sent = post_form(learner, form, {"grounds": ["new_evidence"], "text": APPEAL_TEXT},
                         files={"file": ("my-drafts.pdf", PDF, "application/pdf")})
        assert sent.status_code == 200 and "Your appeal has been sent" in sent.text


def dismiss_the_appeal(app: Flask, moodle: Any, everything: Everything) -> None:
    """als1, new to the case, dismisses learner1's appeal with reasons."""
    with app.app_context():
        roles.grant(platform_id(app), APPEAL_REVIEWER, actor="test", sub="6")
        db.session.commit()
        appeal_id = db.session.scalar(sa.select(Appeal.id).where(
            Appeal.incident_id == everything.case_id))
    base = app.config["BASE_URL"]
    with FormBrowser() as als1:
        launch(als1, moodle, "als1", everything.courses.cipd.id)
        page = als1.open(f"{base}/appeals/{appeal_id}")
        asked = post_form(als1, page, {"result": "dismissed",
                                       "reasons": "The procedure was followed."},
                          action=f"{base}/appeals/{appeal_id}/review")
        assert confirm(als1, asked).status_code == 200
