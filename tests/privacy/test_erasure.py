"""Erasure requests, carried out by an administrator on the admin pages: checked against the
holds and the schedule, carried out for what is not held, the learner told by email what
was kept and why; the audit chain still verifies."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from lti_tool.audit import service as audit
from lti_tool.cases import models as im
from lti_tool.declarations.models import AwarenessEvent, Declaration
from lti_tool.extensions import db
from lti_tool.people.models import Person
from lti_tool.privacy.models import ErasureRequest, LegalHold
from lti_tool.requests.models import AiToolRequest
from tests.cases.flows import declare_as, person_id, wait_for
from tests.conftest import SmtpSink, row_counts
from tests.privacy.conftest import Everything
from tests.support.browser import FormBrowser, launch
from tests.support.pages import post_form, text


def _body(message: Any) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return " ".join(part.get_payload(decode=True).decode().split())


def _erase(app: Flask, moodle: Any, subject_id: int, **fields: str) -> Any:
    base = app.config["BASE_URL"]
    with FormBrowser() as admin:
        launch(admin, moodle, "admin")
        page = admin.open(f"{base}/admin/privacy/people/{subject_id}")
        assert page.status_code == 200, page.text
        values = {"erase-received_on": "2026-11-20", "erase-confirm": "ERASE", **fields}
        return page, post_form(admin, page, values,
                               action=f"{base}/admin/privacy/people/{subject_id}/erase")


def _count(app: Flask, model: Any, *where: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)
                                     .where(*where)) or 0)


def _erasure_email(smtp: SmtpSink, to: str) -> Any:
    assert wait_for(lambda: any(m["To"] == to and "erase" in m["Subject"]
                                for m in smtp.messages))
    return next(m for m in smtp.messages if m["To"] == to and "erase" in m["Subject"])


def test_erasure_keeps_what_the_schedule_keeps_and_tells_the_learner_why(
        app: Flask, everything: Everything, moodle: Any, smtp: SmtpSink) -> None:
    me = everything.learner_id
    page, done = _erase(app, moodle, me)
    assert "Would be kept, and the learner is told why" in text(page)
    assert "Incidents (cases) upheld: Kept until" in text(page)
    assert done.status_code == 200, done.text
    assert "Erasure carried out. The learner has been emailed what was kept and why." \
        in text(done)
    for model in (Declaration, AwarenessEvent, AiToolRequest):
        assert _count(app, model, model.person_id == me) == 0, model
    # Kept: the upheld case (for the awarding body and legal claims), and their name with it.
    assert _count(app, im.Incident, im.Incident.id == everything.case_id) == 1
    with app.app_context():
        learner = db.session.get(Person, me)
        assert learner is not None and learner.name == "Lena Learner"
        request = db.session.scalar(sa.select(ErasureRequest))
        assert request is not None and request.emailed and request.person_id == me
        assert audit.verify().ok
    # learner2's records are untouched.
    assert _count(app, Declaration, Declaration.person_id == everything.other_id) == 1

    mail = _body(_erasure_email(smtp, "learner1@example.test"))
    assert "Erased: - " in mail
    assert "- Declarations, authentications and comprehension answers (3)" in mail
    assert "AI-tool requests, ALS decisions and the learner's answers (1)" in mail
    assert "Kept, and why: - Incidents (cases) upheld: Kept until" in mail
    assert "for the awarding body and in case of a legal claim" in mail
    assert "Your name, email address and Moodle user id: The records kept above name you" \
        in mail


def test_a_hold_keeps_everything_and_the_learner_is_told(
        app: Flask, everything: Everything, moodle: Any, smtp: SmtpSink) -> None:
    other = everything.other_id
    before = _count(app, Declaration, Declaration.person_id == other)
    _, done = _erase(app, moodle, other)
    assert done.status_code == 200
    assert _count(app, Declaration, Declaration.person_id == other) == before == 1
    assert _count(app, im.Incident, im.Incident.learner_id == other) == 1
    mail = _body(_erasure_email(smtp, "learner2@example.test"))
    assert "Nothing could be erased yet." in mail
    assert "Held: an open case." in mail


def test_without_holds_everything_goes_and_the_name_too(
        app: Flask, registered: Any, moodle: Any, smtp: SmtpSink) -> None:
    from tests.cases.flows import place_both

    courses = place_both(moodle)
    declare_as(moodle, courses.cmi.id, "learner3", "Lucy Lane")
    learner3 = person_id(app, "7")
    _, done = _erase(app, moodle, learner3)
    assert done.status_code == 200, done.text
    assert _count(app, Declaration, Declaration.person_id == learner3) == 0
    with app.app_context():
        gone = db.session.get(Person, learner3)
        assert gone is not None and (gone.name, gone.email) == ("", "")
        assert gone.sub == f"erased-{learner3}"
        assert audit.verify().ok
    mail = _body(_erasure_email(smtp, "learner3@example.test"))
    assert "Your name, email address and Moodle user id" in mail and "Kept" not in mail


def test_a_refused_erasure_form_changes_nothing(app: Flask, everything: Everything,
                                                moodle: Any) -> None:
    base = app.config["BASE_URL"]
    action = f"{base}/admin/privacy/people/{everything.learner_id}/erase"
    with FormBrowser() as admin:
        launch(admin, moodle, "admin")
        page = admin.open(f"{base}/admin/privacy/people/{everything.learner_id}")
        before = row_counts(app)
        refused = post_form(admin, page, {"erase-received_on": "2026-11-20",
                                          "erase-confirm": "yes"}, action=action)
        assert refused.status_code == 400 and "Type ERASE to confirm." in text(refused)
        future = post_form(admin, page, {"erase-received_on": "2999-01-01",
                                         "erase-confirm": "ERASE"}, action=action)
        assert future.status_code == 400 and "cannot be in the future" in text(future)
        assert row_counts(app) == before


def test_an_admin_places_and_releases_a_hold_on_the_page(
        app: Flask, everything: Everything, moodle: Any) -> None:
    base = app.config["BASE_URL"]
    with FormBrowser() as admin:
        launch(admin, moodle, "admin")
        found = admin.open(f"{base}/admin/privacy?q=lena")
        assert "Lena Learner" in text(found) and "1 person found" in text(found)
        page = admin.open(f"{base}/admin/privacy/people/{everything.learner_id}")
        empty = post_form(admin, page, {"hold-reason": " "},
                          action=f"{base}/admin/privacy/people/{everything.learner_id}/holds")
        assert empty.status_code == 400 and "Enter the reason for the hold." in text(empty)
        held = post_form(admin, page, {"hold-reason": "A complaint to the OIA"},
                         action=f"{base}/admin/privacy/people/{everything.learner_id}/holds")
        assert held.status_code == 200 and "Held since" in text(held)
        assert "Held: an administrator's hold: A complaint to the OIA." in text(held)
        overview = admin.open(f"{base}/admin/privacy")
        assert "A complaint to the OIA" in text(overview)
        assert "The schedule in force" in text(overview)
        with app.app_context():
            hold_id = db.session.scalar(sa.select(LegalHold.id))
        released = post_form(admin, held, {},
                             action=f"{base}/admin/privacy/holds/{hold_id}/release")
        assert released.status_code == 200 and "Hold released" in text(released)
    with app.app_context():
        hold = db.session.get(LegalHold, hold_id)
        assert hold is not None and hold.released_at is not None
