"""Clocks and escalation: each step of a case against the policy data's targets (working
days); overdue cases flagged on the case page, the course dashboard, the ALS queue and the
administration page; reaching the reportable stage emails the reporters (ALS members and
quality leads) and puts the case in their queue; a marker who may not produce the report
sends it to them. Through launches, with real SMTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from flask import Flask

from lti_tool.cases.clocks import (
    LATE,
    MET,
    NOT_NEEDED,
    OVERDUE,
    RUNNING,
    appeal_clock,
    case_clocks,
)
from lti_tool.cases.models import (
    EV_APPEALED,
    Appeal,
    Incident,
    IncidentEvent,
)
from lti_tool.extensions import db
from lti_tool.policy import service as policies
from lti_tool.roles import service as roles
from lti_tool.roles.models import ALS, QUALITY_LEAD
from tests.cases.flows import (
    ACTION_PROFESSIONAL_DISCUSSION,
    Courses,
    incident_url,
    not_receipts,
    panel,
    person_id,
    record,
    uphold,
    wait_for,
)
from tests.conftest import SmtpSink
from tests.support.browser import FormBrowser, launch
from tests.support.pages import platform_id, post_form

MONDAY = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def test_clock_states_against_the_targets(app: Flask) -> None:
    with app.app_context():
        policy = policies.current_or_bundled()
        case = Incident(raised_at=MONDAY, state="awaiting_answer", outcome=None, stage=None,
                        answered_at=None, decided_at=None)
        now = MONDAY + timedelta(days=3)
        notified, answer = case_clocks(case, policy, now=now)
        assert (notified.state, answer.state) == (MET, RUNNING)
        assert answer.due_at == datetime(2026, 6, 15, 9, 0, tzinfo=UTC)  # 10 working days
        late_now = MONDAY + timedelta(days=20)
        clocks = case_clocks(case, policy, now=late_now)
        assert [c.step for c in clocks] == ["learner_notified", "answer_due", "decision"]
        assert clocks[1].state == OVERDUE and "Overdue by 4 working days" in clocks[1].summary
        case.answered_at = MONDAY + timedelta(days=1)
        case.decided_at = MONDAY + timedelta(days=18)
        case.outcome, case.stage, case.state = "upheld", 3, "follow_up"
        clocks = case_clocks(case, policy, now=late_now)
        assert [c.state for c in clocks] == [MET, MET, LATE, RUNNING]
        assert clocks[3].step == "report"
        case.answered_at = None  # decided without the learner's answer
        assert case_clocks(case, policy, now=late_now)[1].state == NOT_NEEDED


def test_an_appeal_runs_against_its_target(app: Flask) -> None:
    with app.app_context():
        policy = policies.current_or_bundled()
        appeal = Appeal(submitted_at=MONDAY, reviewed_at=None)
        clock = appeal_clock(appeal, policy, now=MONDAY + timedelta(days=20))
        assert (clock.step, clock.target_days, clock.state) == ("appeal_decided", 10, OVERDUE)
        appeal.reviewed_at = MONDAY + timedelta(days=2)
        assert appeal_clock(appeal, policy, now=MONDAY + timedelta(days=20)).state == MET
        case = Incident(raised_at=MONDAY, state="closed", outcome="upheld", stage=1,
                        answered_at=MONDAY, decided_at=MONDAY + timedelta(days=1))
        events = [SimpleNamespace(kind=EV_APPEALED, data={}, at=MONDAY + timedelta(days=2))]
        last = case_clocks(case, policy, now=MONDAY + timedelta(days=3), events=events)[-1]
        assert (last.step, last.state) == ("appeal_decided", RUNNING)


def _age(app: Flask, days: int) -> None:
    """Move every case (and its events) ``days`` calendar days into the past."""
    with app.app_context():
        for case in db.session.scalars(sa.select(Incident)):
            case.raised_at -= timedelta(days=days)
            if case.decided_at is not None:
                case.decided_at -= timedelta(days=days)
            if case.answer_due_at is not None:
                case.answer_due_at -= timedelta(days=days)
        for event in db.session.scalars(sa.select(IncidentEvent)):
            event.at -= timedelta(days=days)
        db.session.commit()


def test_overdue_cases_are_flagged_where_staff_look(app: Flask, declared: Courses,
                                                    moodle: Any, runner: Any) -> None:
    runner.invoke(args=["roles", "grant-als", "--platform", str(platform_id(app)),
                        "--user-id", "6"])
    with FormBrowser() as marker1:
        url = incident_url(record(marker1, panel(marker1, moodle, "marker1",
                                                 declared.cipd.id, "learner1")))
        page = marker1.open(url)
        assert "Time taken at each step" in page.text and "In progress" in page.text
    _age(app, 21)  # 15 working days: the answer (10) is overdue
    with FormBrowser() as marker1:
        dashboard = launch(marker1, moodle, "marker1", declared.cipd.id)
        assert "Overdue" in dashboard.text
        page = marker1.open(url)
        assert "Overdue by 5 working days" in page.text
    with FormBrowser() as als1:
        landing = launch(als1, moodle, "als1", declared.cipd.id)
        base = landing.url.split("/staff/")[0].split("/learner/")[0]
        queue = als1.open(base + "/als/")
        assert queue.status_code == 200 and "Overdue cases" in queue.text
        assert "Lena Learner" in queue.text and "The learner&#39;s answer" in queue.text
    with FormBrowser() as admin:
        landing = launch(admin, moodle, "admin", declared.cipd.id)
        base = landing.url.split("/staff/")[0]
        page = admin.open(base + "/admin/")
        assert "Overdue cases" in page.text and "Lena Learner" in page.text


def test_reaching_the_reportable_stage_tells_the_reporters(
        app: Flask, declared: Courses, moodle: Any, smtp: SmtpSink) -> None:
    with FormBrowser() as als1:  # has opened the tool, so the grant takes hold at once
        launch(als1, moodle, "als1", declared.cipd.id)
    with app.app_context():
        roles.grant(platform_id(app), ALS, actor="test", sub="6")  # als1
        roles.grant(platform_id(app), QUALITY_LEAD, actor="test", sub="8")  # marker2
        db.session.commit()
    uphold(moodle, "marker1", declared.cipd.id)
    second = uphold(moodle, "marker2", declared.cmi.id,
                     stage_action=ACTION_PROFESSIONAL_DISCUSSION)
    with FormBrowser() as marker2:
        launch(marker2, moodle, "marker2", declared.cmi.id)
        post_form(marker2, marker2.open(second),
                  {"followup-result": "satisfactory", "followup-done_on": "2026-06-10",
                   "followup-notes": "Explained every section."}, action=second + "/follow-up")
    assert not [m for m in not_receipts(smtp) if "awarding body" in m["Subject"]]
    uphold(moodle, "marker1", declared.cipd.id)

    def told() -> list[Any]:
        return [m for m in not_receipts(smtp)
                if m["Subject"] == "Report to the awarding body needed: Lena Learner"]

    wait_for(lambda: len(told()) == 2)
    assert {m["To"] for m in told()} == {"als1@example.test", "marker2@example.test"}

    # The marker (one course only) cannot open the report: a button sends it instead.
    learner = person_id(app, "3")
    with FormBrowser() as marker1:
        page = panel(marker1, moodle, "marker1", declared.cipd.id, "learner1")
        base = page.url.split("/learners/")[0] + f"/learners/{learner}"
        refused = marker1.open(base + "/report.pdf")
        assert refused.status_code == 403
        assert "Send it to the reporting team" in refused.text
        sent = post_form(marker1, refused, {}, action=base + "/report/send")
        assert sent.status_code == 200, sent.text
        assert "sent to the reporting team" in sent.text
    wait_for(lambda: any("Maria Marker asks you to send a report" in m["Subject"]
                         for m in not_receipts(smtp)))

    with FormBrowser() as als1:
        landing = launch(als1, moodle, "als1", declared.cipd.id)
        assert "Cases to report" in landing.text
        base = landing.url.split("/staff/")[0].split("/learner/")[0]
        queue = als1.open(base + "/reporting/")
        assert queue.status_code == 200, queue.text
        assert "Lena Learner" in queue.text and "In progress" in queue.text
        assert "Maria Marker" in queue.text  # asked for it
        pdf = als1.open(f"{base}/reporting/learners/{learner}/report.pdf")
        assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
        archive = als1.open(f"{base}/reporting/learners/{learner}/report.zip")
        assert archive.status_code == 200
    with FormBrowser() as learner2:
        landing = launch(learner2, moodle, "learner2", declared.cipd.id)
        base = landing.url.split("/learner/")[0]
        assert learner2.open(base + "/reporting/").status_code == 403
