"""Appeals through real launches: the learner appeals within the window; reviewers who took
part are refused; an upheld appeal replaces the decision, works the stages out again across
both courses and re-posts every gradebook status in order (always 1/1); letters either way;
two reviewers at once (SQLite and PostgreSQL: the suite runs on both)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from lti_tool.cases.models import Appeal, StageLedgerEntry
from lti_tool.extensions import db
from lti_tool.outbox.handlers import SCORE
from lti_tool.outbox.models import DELIVERED, OutboxMessage
from lti_tool.roles import service as roles
from lti_tool.roles.models import APPEAL_REVIEWER
from tests.cases.flows import (
    Courses,
    decide,
    incident_url,
    incidents,
    panel,
    record,
    wait_for,
)
from tests.cases.test_answers import _body
from tests.conftest import SmtpSink, row_counts
from tests.support.browser import FormBrowser, launch
from tests.support.pages import confirm, platform_id, post_form, text


def _reviewers(app: Flask, *subs: str) -> None:
    with app.app_context():
        for sub in subs:
            roles.grant(platform_id(app), APPEAL_REVIEWER, actor="test", sub=sub)
        db.session.commit()


def _two_upheld(moodle: Any, declared: Courses) -> tuple[str, str]:
    """Stage 1 in the CIPD course (marker1), Stage 2 in the CMI course (marker2)."""
    with FormBrowser() as marker1:
        first = incident_url(record(marker1, panel(marker1, moodle, "marker1",
                                                   declared.cipd.id, "learner1")))
        assert "Stage 1" in decide(marker1, first, without_answer="y").text
    with FormBrowser() as marker2:
        second = incident_url(record(marker2, panel(marker2, moodle, "marker2",
                                                    declared.cmi.id, "learner1")))
        assert "Stage 2" in decide(marker2, second, without_answer="y",
                                   stage_action="professional_discussion").text
    return first, second


def _appeal(app: Flask, moodle: Any, declared: Courses, incident_id: int) -> Any:
    with FormBrowser() as learner:
        launch(learner, moodle, "learner1", declared.cipd.id)
        base = app.config["BASE_URL"]
        form = learner.open(f"{base}/learner/cases/{incident_id}/appeal")
        assert form.status_code == 200, form.text
        missing = post_form(learner, form, {"text": "The checker misjudged my writing."})
        assert missing.status_code == 400 and "Choose the grounds" in text(missing)
        sent = post_form(learner, learner.open(form.url),
                         {"grounds": ["procedure", "new_evidence"],
                          "text": "The checker misjudged my writing."})
        assert "Your appeal has been sent" in text(sent)
        assert "Being reviewed" in text(sent)
        return sent


def _appeal_id(app: Flask) -> int:
    with app.app_context():
        found = db.session.scalar(sa.select(Appeal.id))
        assert found is not None
        return int(found)


def _scores(moodle: Any, item_id: int) -> list[dict[str, Any]]:
    return [r.json for r in moodle.requests_log
            if r.path.endswith(f"/lineitems/{item_id}/lineitem/scores") and r.json
            and r.json.get("userId") == "3" and r.status == 200]


def _delivered(app: Flask) -> bool:
    with app.app_context():
        pending = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                                    .where(OutboxMessage.kind == SCORE,
                                           OutboxMessage.status != DELIVERED))
        db.session.remove()
        return pending == 0


def test_upheld_appeal_recomputes_stages_across_courses_and_reposts_the_gradebook(
        app: Flask, declared: Courses, moodle: Any, smtp: SmtpSink) -> None:
    _reviewers(app, "5", "6")  # marker1 (raised the first case) and als1 (new to it)
    first, _ = _two_upheld(moodle, declared)
    first_id = int(first.rsplit("/", 1)[1])
    _appeal(app, moodle, declared, first_id)
    appeal_id = _appeal_id(app)
    base = app.config["BASE_URL"]
    with FormBrowser() as marker1:  # raised and decided it: refused, nothing written
        launch(marker1, moodle, "marker1", declared.cipd.id)
        queue = marker1.open(f"{base}/appeals/")
        assert "You took part in this case" in text(queue)
        before = row_counts(app)
        refused = marker1.open(f"{base}/appeals/{appeal_id}")
        assert refused.status_code == 403 and "cannot review its appeal" in text(refused)
        assert row_counts(app) == before
    with FormBrowser() as learner:  # the subject is refused too (not a reviewer)
        launch(learner, moodle, "learner1", declared.cipd.id)
        assert learner.open(f"{base}/appeals/{appeal_id}").status_code == 403
    (cipd_item,) = moodle.activity_items(declared.cipd.id)
    (cmi_item,) = moodle.activity_items(declared.cmi.id)
    wait_for(lambda: _delivered(app))
    cmi_before = len(_scores(moodle, cmi_item.id))
    assert "stage 2 of 3" in moodle.grade_for(cmi_item.id, "learner1").comment
    with FormBrowser() as als1:
        launch(als1, moodle, "als1", declared.cipd.id)
        page = als1.open(f"{base}/appeals/{appeal_id}")
        assert page.status_code == 200 and "The checker misjudged my writing." in page.text
        asked = post_form(als1, page, {"result": "upheld", "replacement": "poor_practice",
                                       "reasons": "The detector was the main evidence."},
                          action=f"{base}/appeals/{appeal_id}/review")
        assert "worked out again across all courses" in text(asked)
        done = confirm(als1, asked)
        assert done.status_code == 200 and "Decision on the appeal recorded" in text(done)
    cases = incidents(app)
    assert [(c.outcome, c.stage) for c in cases] == [("poor_practice", None), ("upheld", 1)]
    with app.app_context():
        active = list(db.session.execute(sa.select(
            StageLedgerEntry.incident_id, StageLedgerEntry.ordinal, StageLedgerEntry.stage)
            .where(StageLedgerEntry.revoked_at.is_(None))))
        assert [tuple(r) for r in active] == [(cases[1].id, 1, 1)]
    wait_for(lambda: _delivered(app))
    wait_for(lambda: "stage 1 of 3" in moodle.grade_for(cmi_item.id, "learner1").comment)
    cmi_scores = _scores(moodle, cmi_item.id)
    assert len(cmi_scores) > cmi_before
    assert "stage 1 of 3" in cmi_scores[-1]["comment"]
    # The stage is platform-wide: the first course's feedback says Stage 1 now, too.
    assert "stage 1 of 3" in moodle.grade_for(cipd_item.id, "learner1").comment
    for item in (cipd_item, cmi_item):
        scores = _scores(moodle, item.id)
        stamps = [s["timestamp"] for s in scores]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
        assert all(s["scoreGiven"] == 1 and s["scoreMaximum"] == 1 and
                   s["gradingProgress"] == "FullyGraded" for s in scores)
    wait_for(lambda: any(m["Subject"].startswith("The outcome of your appeal")
                         for m in smtp.messages))
    (letter,) = [m for m in smtp.messages if m["Subject"].startswith("The outcome of your "
                                                                     "appeal")]
    body = _body(letter)
    assert "Your appeal has been upheld" in body and "CIPD" in body
    with FormBrowser() as learner:
        launch(learner, moodle, "learner1", declared.cipd.id)
        said = text(learner.open(f"{base}/learner/cases"))
        assert "Poor academic practice" in said and "Stage 1 of 3" in said


def test_dismissed_appeal_keeps_the_decision_and_names_the_next_route(
        app: Flask, declared: Courses, moodle: Any, smtp: SmtpSink) -> None:
    _reviewers(app, "6")
    with FormBrowser() as marker2:
        url = incident_url(record(marker2, panel(marker2, moodle, "marker2",
                                                 declared.cmi.id, "learner1")))
        decide(marker2, url, without_answer="y")
    _appeal(app, moodle, declared, int(url.rsplit("/", 1)[1]))
    appeal_id = _appeal_id(app)
    base = app.config["BASE_URL"]
    with FormBrowser() as als1:
        launch(als1, moodle, "als1", declared.cipd.id)
        page = als1.open(f"{base}/appeals/{appeal_id}")
        no_reason = post_form(als1, page, {"result": "dismissed"},
                              action=f"{base}/appeals/{appeal_id}/review")
        assert no_reason.status_code == 400
        asked = post_form(als1, page, {"result": "dismissed",
                                       "reasons": "The procedure was followed."},
                          action=f"{base}/appeals/{appeal_id}/review")
        confirm(als1, asked)
    assert incidents(app)[0].stage == 1
    wait_for(lambda: any(m["Subject"].startswith("The outcome of your appeal")
                         for m in smtp.messages))
    (letter,) = [m for m in smtp.messages if m["Subject"].startswith("The outcome of your "
                                                                     "appeal")]
    body = _body(letter)
    assert "dismissed" in body and "appeal to CMI" in body


@pytest.mark.parametrize("results", [("upheld", "dismissed")])
def test_two_reviewers_at_once_one_wins_the_other_sees_the_result(
        app: Flask, declared: Courses, moodle: Any, results: tuple[str, str]) -> None:
    _reviewers(app, "6", "2")  # als1 and admin
    with FormBrowser() as marker2:
        url = incident_url(record(marker2, panel(marker2, moodle, "marker2",
                                                 declared.cmi.id, "learner1")))
        decide(marker2, url, without_answer="y")
    _appeal(app, moodle, declared, int(url.rsplit("/", 1)[1]))
    appeal_id = _appeal_id(app)
    base = app.config["BASE_URL"]
    with FormBrowser() as one, FormBrowser() as two:
        launch(one, moodle, "als1", declared.cipd.id)
        launch(two, moodle, "admin", declared.cmi.id)
        asked = []
        for who, result in zip((one, two), results, strict=True):
            page = who.open(f"{base}/appeals/{appeal_id}")
            asked.append(post_form(who, page, {
                "result": result, "replacement": "not_upheld",
                "reasons": f"Reviewed: {result}."}, action=f"{base}/appeals/{appeal_id}/review"))
        start = threading.Barrier(2)
        answers: list[Any] = []

        def press(who: FormBrowser, page: Any) -> None:
            start.wait(timeout=10)
            answers.append(confirm(who, page))

        threads = [threading.Thread(target=press, args=(who, page))
                   for who, page in zip((one, two), asked, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 409], statuses
    loser = next(a for a in answers if a.status_code == 409)
    assert "Another reviewer has just decided this appeal" in text(loser)
    with app.app_context():
        appeal = db.session.scalar(sa.select(Appeal))
        assert appeal is not None and appeal.state in results
        assert appeal.reasons == f"Reviewed: {appeal.state}."
