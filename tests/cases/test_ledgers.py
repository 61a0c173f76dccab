"""Stage ledgers under any policy, through real launches: the JCQ example (four stages,
counted per qualification) reaches Stage 4 and then Stage 4 again; its qualifications keep
their own stages; an AIU placement on the same platform keeps its own ledger; an upheld
appeal works the stages out again only in the ledger the case counted in."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from lti_tool.cases.models import (
    CLOSED,
    EV_SUSPICION_REPORTED,
    FOLLOW_UP,
    Appeal,
    IncidentEvent,
    StageLedgerEntry,
)
from lti_tool.extensions import db
from lti_tool.roles import service as roles
from lti_tool.roles.models import ALS, APPEAL_REVIEWER
from tests.cases.flows import (
    decide,
    declare_as,
    declare_jcq,
    incident_url,
    incidents,
    jcq_activity,
    panel,
    record,
    wait_for,
)
from tests.cases.test_answers import _body, _question
from tests.conftest import SmtpSink
from tests.declarations.test_declarations import deep_link
from tests.support.browser import FormBrowser, launch
from tests.support.pages import confirm, platform_id, post_form, text


def _uphold(moodle: Any, marker: str, activity_id: int, **extra: str) -> Any:
    with FormBrowser() as browser:
        url = incident_url(record(browser, panel(browser, moodle, marker, activity_id,
                                                  "learner1")))
        page = decide(browser, url, without_answer="y", **extra)
        assert page.status_code == 200, page.text
        return url, page


def _ledgers(app: Flask) -> dict[str, list[tuple[int, int, str]]]:
    """Active ledger entries: key -> [(ordinal, stage, outcome)]."""
    with app.app_context():
        found: dict[str, list[tuple[int, int, str]]] = {}
        for key, ordinal, stage, action in db.session.execute(
                sa.select(StageLedgerEntry.ledger_key, StageLedgerEntry.ordinal,
                          StageLedgerEntry.stage, StageLedgerEntry.action)
                .where(StageLedgerEntry.revoked_at.is_(None))
                .order_by(StageLedgerEntry.ledger_key, StageLedgerEntry.ordinal)):
            found.setdefault(key, []).append((ordinal, stage, action))
        db.session.remove()
        return found


def test_a_four_stage_policy_reaches_stage_4_and_stays_there(
        app: Flask, jcq: None, moodle: Any, smtp: SmtpSink) -> None:
    pearson = jcq_activity(moodle, "PEARSON")
    # The same qualification in the other course counts in the same ledger.
    pearson_too = jcq_activity(moodle, "PEARSON", user="marker2", course_id=3,
                               title="Unit 4 declaration")
    declare_jcq(moodle, pearson.id)
    declare_jcq(moodle, pearson_too.id)

    _, first = _uphold(moodle, "marker1", pearson.id)
    assert "Stage 1, Written warning" in text(first)
    with FormBrowser() as marker2:
        page = panel(marker2, moodle, "marker2", pearson_too.id, "learner1")
        assert "Current stage: Stage 1" in text(page)
        url = incident_url(record(marker2, page))
        form = marker2.open(url)
        # Stage 2 offers the policy's two outcomes, worded from the policy.
        assert "For Stage 2, what will the learner do?" in text(form)
        assert "Attend an interview with the Exams Officer and a senior manager" in text(form)
        assert "Complete new work under supervision" in text(form)
        missing = decide(marker2, url, without_answer="y")
        assert missing.status_code == 400
        assert ("Choose an academic integrity interview or a new work under supervision"
                in text(missing))
        second = decide(marker2, url, without_answer="y", stage_action="integrity_interview")
        assert "Stage 2, Academic integrity interview" in text(second)
        done = post_form(marker2, second, {"followup-result": "own_work",
                                           "followup-done_on": "2026-06-10",
                                           "followup-notes": "Explained the work well."},
                         action=url + "/follow-up")
        assert "the incident is closed" in text(done)
    _, third = _uphold(moodle, "marker1", pearson.id)
    assert "Stage 3, Findings sent to the awarding body" in text(third)
    assert "Flagged: report to the awarding body (PEARSON)" in text(third)
    assert "possible removal from the course" not in text(third)  # Stage 3 has no removal
    _, fourth = _uphold(moodle, "marker2", pearson_too.id)
    assert "Stage 4, Referred to the awarding body for a sanction" in text(fourth)
    assert "possible removal from the course" in text(fourth)
    _, fifth = _uphold(moodle, "marker1", pearson.id)
    assert "Stage 4, Referred to the awarding body for a sanction" in text(fifth)
    assert "Stage 4 again" in text(fifth)

    assert _ledgers(app) == {"NFC-AI/PEARSON": [
        (1, 1, "written_warning"), (2, 2, "integrity_interview"),
        (3, 3, "findings_to_awarding_body"), (4, 4, "disqualification_referral"),
        (5, 4, "disqualification_referral")]}
    assert [(i.stage, i.state) for i in incidents(app)] == [
        (1, CLOSED), (2, CLOSED), (3, FOLLOW_UP), (4, FOLLOW_UP), (4, FOLLOW_UP)]
    # The learner is told what happens in the policy's words, and their stage out of four.
    wait_for(lambda: len([m for m in smtp.messages
                          if m["Subject"].startswith("The outcome")]) == 5)
    letters = [m for m in smtp.messages if m["Subject"].startswith("The outcome")]
    assert "You will receive a written warning." in _body(letters[0])
    assert "which may disqualify you from the qualification" in _body(letters[3])
    with FormBrowser() as learner:
        launch(learner, moodle, "learner1", pearson.id)
        mine = text(learner.open(app.config["BASE_URL"] + "/learner/cases"))
        assert "Stage 4 of 4 in your Pearson (BTEC) qualification." in mine
        assert "Your stage across all your courses" not in mine


def test_qualifications_and_policies_keep_separate_ledgers(
        app: Flask, jcq: None, moodle: Any) -> None:
    pearson = jcq_activity(moodle, "PEARSON")
    ocr = jcq_activity(moodle, "OCR", user="marker2", course_id=3, title="Unit 9")
    with FormBrowser() as teacher:
        aiu = deep_link(teacher, moodle, title="Unit 1 declaration")
    declare_jcq(moodle, pearson.id)
    declare_jcq(moodle, ocr.id)
    declare_as(moodle, aiu.id)

    _uphold(moodle, "marker1", pearson.id)
    _uphold(moodle, "marker1", pearson.id, stage_action="supervised_rewrite")
    # Another qualification under the same policy starts at Stage 1 ...
    _, other = _uphold(moodle, "marker2", ocr.id)
    assert "Stage 1, Written warning" in text(other)
    # ... and so does a placement under another policy, with that policy's outcome.
    _, under_aiu = _uphold(moodle, "marker1", aiu.id)
    assert "Stage 1, Work marked" in text(under_aiu)
    assert _ledgers(app) == {
        "AIU": [(1, 1, "marked_and_advised")],
        "NFC-AI/OCR": [(1, 1, "written_warning")],
        "NFC-AI/PEARSON": [(1, 1, "written_warning"), (2, 2, "supervised_rewrite")]}
    with FormBrowser() as marker1:
        said = text(panel(marker1, moodle, "marker1", pearson.id, "learner1"))
        assert "Current stage: Stage 2" in said
        said = text(panel(marker1, moodle, "marker1", aiu.id, "learner1"))
        assert "Current stage: Stage 1" in said
        assert "reaches Stage 2" in said
    # The gradebook feedback counts in each activity's own ledger and policy.
    (pearson_item,) = moodle.activity_items(pearson.id)
    (aiu_item,) = moodle.activity_items(aiu.id)
    wait_for(lambda: "stage 2 of 4" in (moodle.grade_for(pearson_item.id, "learner1").comment
                                        or ""))
    wait_for(lambda: "stage 1 of 3" in (moodle.grade_for(aiu_item.id, "learner1").comment
                                        or ""))


def test_an_upheld_appeal_recounts_only_its_own_ledger(
        app: Flask, jcq: None, moodle: Any, smtp: SmtpSink) -> None:
    """The appeal flow under the JCQ example: the learner appeals their Stage 1, it is
    upheld, their Stage 2 in that qualification becomes Stage 1; the AIU ledger is not
    touched."""
    pearson = jcq_activity(moodle, "PEARSON")
    with FormBrowser() as teacher:
        aiu = deep_link(teacher, moodle, title="Unit 1 declaration")
    declare_jcq(moodle, pearson.id)
    declare_as(moodle, aiu.id)
    first_url, _ = _uphold(moodle, "marker1", pearson.id)
    _uphold(moodle, "marker1", aiu.id)
    _uphold(moodle, "marker1", pearson.id, stage_action="integrity_interview")
    with app.app_context():
        roles.grant(platform_id(app), APPEAL_REVIEWER, actor="test", sub="6")
        db.session.commit()
    base = app.config["BASE_URL"]
    first_id = int(first_url.rsplit("/", 1)[1])
    with FormBrowser() as learner:
        launch(learner, moodle, "learner1", pearson.id)
        form = learner.open(f"{base}/learner/cases/{first_id}/appeal")
        assert form.status_code == 200, form.text
        sent = post_form(learner, form, {"grounds": ["procedure"],
                                         "text": "I was told the tool was allowed."})
        assert "Your appeal has been sent" in text(sent)
    with app.app_context():
        appeal_id = db.session.scalar(sa.select(Appeal.id))
    with FormBrowser() as als1:
        launch(als1, moodle, "als1", pearson.id)
        page = als1.open(f"{base}/appeals/{appeal_id}")
        assert page.status_code == 200, page.text
        assert "Written warning" in text(page)
        asked = post_form(als1, page, {"result": "upheld", "replacement": "withdraw",
                                       "reasons": "The learner was misinformed."},
                          action=f"{base}/appeals/{appeal_id}/review")
        done = confirm(als1, asked)
        assert "Decision on the appeal recorded" in text(done)
    assert _ledgers(app) == {
        "AIU": [(1, 1, "marked_and_advised")],
        # The interview is not a Stage 1 outcome: the case takes Stage 1's only outcome.
        "NFC-AI/PEARSON": [(1, 1, "written_warning")]}
    cases = incidents(app)
    assert [(c.stage, c.state) for c in cases][1:] == [(1, CLOSED), (1, CLOSED)]
    wait_for(lambda: any(m["Subject"].startswith("The outcome of your appeal")
                         for m in smtp.messages))


def test_a_body_told_on_suspicion_gets_a_report_queued_when_the_case_is_raised(
        app: Flask, jcq: None, moodle: Any, smtp: SmtpSink) -> None:
    """JCQ: suspected malpractice in authenticated work is reported at once, before any
    decision (work not yet authenticated is the centre's to deal with)."""
    pearson = jcq_activity(moodle, "PEARSON")
    declare_jcq(moodle, pearson.id)
    base = app.config["BASE_URL"]
    with FormBrowser() as als1:  # has opened the tool, so the grant takes hold at once
        launch(als1, moodle, "als1", pearson.id)
    with app.app_context():
        roles.grant(platform_id(app), ALS, actor="test", sub="6")  # als1
        db.session.commit()

    def told() -> list[Any]:
        return [m for m in smtp.messages if m["Subject"] ==
                "Suspected malpractice to report to the awarding body: Lena Learner"]

    with FormBrowser() as marker1:
        before = incident_url(record(marker1, panel(marker1, moodle, "marker1", pearson.id,
                                                    "learner1")))
        assert "The awarding body must be told" not in text(marker1.open(before))
    with FormBrowser() as learner:
        page = launch(learner, moodle, "learner1", pearson.id)
        done = post_form(learner, learner.open(page.url + "/authenticate"),
                         {"confirmed": "y", "signature": "Lena Learner"})
        assert done.status_code == 200 and "You authenticated your work on" in done.text
    with FormBrowser() as marker1:
        url = incident_url(record(marker1, panel(marker1, moodle, "marker1", pearson.id,
                                                 "learner1")))
        assert "The awarding body must be told of the suspicion now" in text(marker1.open(url))
    wait_for(lambda: [m["To"] for m in told()] == ["als1@example.test"])
    case_id = int(url.rsplit("/", 1)[1])
    with FormBrowser() as als1:
        launch(als1, moodle, "als1", pearson.id)
        queue = als1.open(f"{base}/reporting/")
        assert queue.status_code == 200, queue.text
        said = text(queue)
        assert f"Case {case_id}: Unit 3 assignment" in said
        assert "suspected malpractice, raised" in said
        assert f"Case {int(before.rsplit('/', 1)[1])}:" not in said
        action = f"{base}/reporting/cases/{case_id}/suspicion-reported"
        missing = post_form(als1, queue, {f"case{case_id}-done_on": "2026-06-10"},
                            action=action)
        assert missing.status_code == 400
        assert "Enter how and to whom it was reported." in text(missing)
        recorded = post_form(als1, queue, {f"case{case_id}-done_on": "2026-06-10",
                                           f"case{case_id}-notes": "Pearson ref 1234."},
                             action=action)
        assert recorded.status_code == 200, recorded.text
        assert "was reported to the awarding body" in text(recorded)
        assert f"Case {case_id}:" not in text(recorded)
    with app.app_context():
        kinds = list(db.session.scalars(sa.select(IncidentEvent.kind).where(
            IncidentEvent.incident_id == case_id).order_by(IncidentEvent.seq)))
        assert kinds.count("suspicion_to_report") == 1
        assert kinds[-1] == EV_SUSPICION_REPORTED
    with FormBrowser() as marker1:
        panel(marker1, moodle, "marker1", pearson.id, "learner1")
        assert "Suspicion reported to the awarding body on 2026-06-10: Pearson ref 1234." in (
            text(marker1.open(url)))


def test_the_learner_is_asked_and_answers_under_the_jcq_policy(
        app: Flask, jcq: None, moodle: Any, smtp: SmtpSink) -> None:
    """The learner's side of a case under the second policy: the question names the
    policy's stage in their qualification and its own checks; their answer is decided on."""
    pearson = jcq_activity(moodle, "PEARSON")
    declare_jcq(moodle, pearson.id)
    with FormBrowser() as marker1:
        url = incident_url(record(marker1, panel(marker1, moodle, "marker1", pearson.id,
                                                 "learner1")))
    email = _question(smtp)
    said = _body(email)
    assert ("if this is upheld it would be your Stage 1 under the policy, in your Pearson "
            "(BTEC) qualification.") in said
    assert "You will be given a written warning" in said  # JCQ's Stage 1, word for word
    assert "Stage 4: The awarding body may disqualify you" in said
    assert "professional discussion" not in said
    case_id = int(url.rsplit("/", 1)[1])
    with FormBrowser() as learner:
        launch(learner, moodle, "learner1", pearson.id)
        base = app.config["BASE_URL"]
        form = learner.open(f"{base}/learner/incidents/{case_id}/answer")
        assert form.status_code == 200, form.text
        assert "discussion with the learner about the work" in text(form)
        done = post_form(learner, form, {"answer": "I asked an AI tool to explain a topic."})
        assert done.status_code == 200 and "your answer has been sent" in done.text
        mine = text(learner.open(f"{base}/learner/cases"))
        assert "If this is upheld it would be your Stage 1 in your Pearson (BTEC) " \
               "qualification." in mine
    with FormBrowser() as marker1:
        panel(marker1, moodle, "marker1", pearson.id, "learner1")
        decided = decide(marker1, url)
        assert "Stage 1, Written warning" in text(decided)
        assert "I asked an AI tool to explain a topic." in text(decided)
    assert [(i.stage, i.state) for i in incidents(app)] == [(1, CLOSED)]
