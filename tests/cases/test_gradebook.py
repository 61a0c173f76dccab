"""What Moodle's gradebook receives: the declaration grade stays 1/1 FullyGraded (the gate
stays open) and its feedback carries the integrity status, in neutral words while a case is
open; the outbox holds it all while Moodle is down and delivers it in order afterwards."""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa
from flask import Flask

from lti_tool.extensions import db
from lti_tool.outbox.handlers import SCORE
from lti_tool.outbox.models import DELIVERED, OutboxMessage
from tests.cases.flows import (
    Courses,
    decide,
    incident_url,
    incidents,
    panel,
    record,
    wait_for,
)
from tests.support.browser import FormBrowser, launch
from tests.support.pages import post_form

NOT_NEUTRAL = ("incident", "misuse", "stage", "upheld", "ai-generated", "detected", "turnitin")


def _scores(moodle: Any, item_id: int, user_id: str = "3") -> list[dict[str, Any]]:
    return [r.json for r in moodle.requests_log
            if r.path.endswith(f"/lineitems/{item_id}/lineitem/scores") and r.json
            and r.json.get("userId") == user_id and r.status == 200]


def _delivered(app: Flask) -> bool:
    with app.app_context():
        pending = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                                    .where(OutboxMessage.kind == SCORE,
                                           OutboxMessage.status != DELIVERED))
        db.session.remove()
        return pending == 0


def test_learner_sees_neutral_wording_while_a_case_is_open(app: Flask, declared: Courses,
                                                           moodle: Any,
                                                           browser: FormBrowser) -> None:
    (item,) = moodle.activity_items(declared.cipd.id)
    wait_for(lambda: moodle.grade_for(item.id, "learner1") is not None)
    base = moodle.grade_for(item.id, "learner1").comment
    assert base.startswith("AI use declaration received on ")
    record(browser, panel(browser, moodle, "marker1", declared.cipd.id, "learner1"))
    wait_for(lambda: moodle.grade_for(item.id, "learner1").comment != base)
    grade = moodle.grade_for(item.id, "learner1")
    assert grade.score_given == 1 and grade["gradingProgress"] == "FullyGraded"
    assert grade.comment.startswith(base + ". Question sent on ")
    assert "awaiting the learner's reply" in grade.comment
    assert not any(word in grade.comment.lower() for word in NOT_NEUTRAL), grade.comment
    # The other course's declaration is untouched while nothing is decided.
    (cmi_item,) = moodle.activity_items(declared.cmi.id)
    assert "Question sent" not in (moodle.grade_for(cmi_item.id, "learner1").comment or "")
    with FormBrowser() as learner:
        page = launch(learner, moodle, "learner1", declared.cipd.id)
        assert "You have been asked a question" in page.text
        section = page.text.split('id="questions-heading"')[1].split("</section>")[0]
        questions = re.sub(r"<[^>]+>", " ", section)  # what the learner reads
        assert not any(word in questions.lower() for word in NOT_NEUTRAL), questions
        (incident,) = incidents(app)
        form = learner.open(f"{app.config['BASE_URL']}/learner/incidents/{incident.id}/answer")
        post_form(learner, form, {"answer": "I can explain."})
    wait_for(lambda: "Reply received on" in (moodle.grade_for(item.id, "learner1").comment
                                             or ""))
    comment = moodle.grade_for(item.id, "learner1").comment
    assert "review in progress" in comment
    assert not any(word in comment.lower() for word in NOT_NEUTRAL), comment


def test_outbox_holds_the_sync_while_moodle_is_down(app: Flask, declared: Courses,
                                                    moodle: Any, runner: Any,
                                                    browser: FormBrowser) -> None:
    (cipd_item,) = moodle.activity_items(declared.cipd.id)
    (cmi_item,) = moodle.activity_items(declared.cmi.id)
    wait_for(lambda: _delivered(app))
    posted_before = len(_scores(moodle, cipd_item.id))
    moodle.down = True
    url = incident_url(record(browser, panel(browser, moodle, "marker1", declared.cipd.id,
                                             "learner1")))
    with FormBrowser() as learner:  # JWKS is cached: launches work while services are down
        launch(learner, moodle, "learner1", declared.cipd.id)
        (incident,) = incidents(app)
        form = learner.open(f"{app.config['BASE_URL']}/learner/incidents/{incident.id}/answer")
        post_form(learner, form, {"answer": "I can explain."})
    decided = decide(browser, url)
    assert decided.status_code == 200, decided.text
    assert len(_scores(moodle, cipd_item.id)) == posted_before  # nothing got through
    with app.app_context():
        waiting = list(db.session.scalars(sa.select(OutboxMessage).where(
            OutboxMessage.kind == SCORE, OutboxMessage.status != DELIVERED)
            .order_by(OutboxMessage.id)))
        # Three updates for the incident's activity, one for the other course's.
        assert [m.ordering_key.split(":")[2] for m in waiting].count(
            waiting[0].ordering_key.split(":")[2]) == 3 and len(waiting) == 4
        db.session.execute(sa.update(OutboxMessage).values(
            next_attempt_at=OutboxMessage.created_at))
        db.session.commit()
    moodle.down = False
    result = runner.invoke(args=["worker", "--once"])
    assert "4 delivered" in result.output, result.output
    posted = _scores(moodle, cipd_item.id)[posted_before:]
    assert [p["comment"].split(". ", 1)[1].split(" on ")[0] for p in posted[:2]] == [
        "Question sent", "Reply received"]
    assert "AI use policy stage 1 of 3" in posted[2]["comment"]
    stamps = [p["timestamp"] for p in _scores(moodle, cipd_item.id)]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    # Never cleared: every score is a FullyGraded 1/1, and the gate stays open.
    for score in _scores(moodle, cipd_item.id) + _scores(moodle, cmi_item.id):
        assert score["scoreGiven"] == 1 and score["scoreMaximum"] == 1
        assert score["gradingProgress"] == "FullyGraded"
    final = moodle.grade_for(cipd_item.id, "learner1")
    assert final.final_grade == 1 and final.comment.endswith(")") and "stage 1 of 3" in \
        final.comment
    # The stage is platform-wide: the other course's marker sees it too.
    assert "AI use policy stage 1 of 3" in moodle.grade_for(cmi_item.id, "learner1").comment


def test_redeclaring_keeps_the_status(app: Flask, declared: Courses, moodle: Any,
                                      browser: FormBrowser) -> None:
    url = incident_url(record(browser, panel(browser, moodle, "marker1", declared.cipd.id,
                                             "learner1")))
    decide(browser, url, without_answer="y")
    from tests.cases.flows import declare_as

    declare_as(moodle, declared.cipd.id)
    (item,) = moodle.activity_items(declared.cipd.id)
    wait_for(lambda: _delivered(app))
    assert "AI use policy stage 1 of 3" in moodle.grade_for(item.id, "learner1").comment


def test_nothing_is_posted_for_a_learner_who_has_not_declared(
        app: Flask, courses: Courses, moodle: Any, browser: FormBrowser) -> None:
    with FormBrowser() as learner:
        launch(learner, moodle, "learner2", courses.cipd.id)  # opened, never declared
    url = incident_url(record(browser, panel(browser, moodle, "marker1", courses.cipd.id,
                                             "learner2")))
    decide(browser, url, without_answer="y")
    with app.app_context():
        scores = [json.loads(m.payload) for m in db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.kind == SCORE))]
        assert scores == []
    (item,) = moodle.activity_items(courses.cipd.id)
    assert moodle.grade_for(item.id, "learner2") is None
