"""The retention schedule with a frozen clock: each run disposes of exactly what is due and
nothing held, on SQLite and PostgreSQL, and the audit chain still verifies afterwards."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from lti_tool.audit import service as audit
from lti_tool.audit.models import AuditEvent
from lti_tool.cases import models as im
from lti_tool.dbtypes import utcnow
from lti_tool.declarations.models import AwarenessEvent, Declaration
from lti_tool.extensions import db
from lti_tool.outbox.handlers import EMAIL
from lti_tool.outbox.models import OutboxMessage
from lti_tool.people.models import Person
from lti_tool.privacy import retention, schedule
from lti_tool.privacy.models import Disposal
from lti_tool.requests.models import AiToolRequest
from tests.cases.flows import person_id
from tests.conftest import row_counts
from tests.privacy.conftest import Everything, appeal_with_a_file, dismiss_the_appeal


def _run(app: Flask, when: datetime) -> retention.RunReport:
    with app.app_context():
        report = retention.run(when)
        db.session.commit()
        db.session.expunge_all()
        return report


def _disposed(report: retention.RunReport) -> set[tuple[str, int | None]]:
    return {(c.record_type, c.person_id) for c in report.disposed}


def _count(app: Flask, model: Any, *where: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)
                                     .where(*where)) or 0)


def test_each_run_disposes_of_exactly_what_is_due_and_nothing_held(
        app: Flask, everything: Everything, runner: FlaskCliRunner) -> None:
    me, other = everything.learner_id, everything.other_id
    marker2 = person_id(app, "8")
    start = utcnow()
    assert _run(app, start + timedelta(days=30)).disposed == []

    a_year_on = _run(app, schedule.add_period(start, "1 year") + timedelta(days=2))
    marker = person_id(app, "5")  # told by email that the learner answered
    assert _disposed(a_year_on) == {("declarations", me), ("awareness_events", me),
                                    ("emails", me), ("emails", marker)}
    # marker2 has not launched for a year and no record names them: anonymised.
    assert a_year_on.anonymised == [marker2]
    with app.app_context():
        gone = db.session.get(Person, marker2)
        assert gone is not None and (gone.name, gone.email, gone.sub) == ("", "",
                                                                          f"erased-{marker2}")
    # learner2's case is open: everything of theirs is held, and shown with the reason.
    assert a_year_on.held and {c.person_id for c in a_year_on.held} == {other}
    assert all(c.held_by == ["an open case"] for c in a_year_on.held)
    assert _count(app, Declaration, Declaration.person_id == me) == 0
    assert _count(app, AwarenessEvent, AwarenessEvent.person_id == me) == 0
    assert _count(app, Declaration, Declaration.person_id == other) == 1
    # Not yet due: the upheld case (6 years) and the authorisation (expires in 2099).
    assert _count(app, im.Incident, im.Incident.id == everything.case_id) == 1
    assert _count(app, AiToolRequest, AiToolRequest.id == everything.request_id) == 1
    assert _count(app, OutboxMessage, OutboxMessage.kind == EMAIL) > 0  # learner2's, held

    six_years_on = _run(app, schedule.add_period(start, "6 years") + timedelta(days=2))
    assert _disposed(six_years_on) == {("case_upheld", me)}
    assert six_years_on.anonymised == []  # learner1's request is kept, so is their name
    for model in (im.Incident, im.IncidentEvent, im.EvidenceItem, im.IncidentAnswer,
                  im.AnswerLink, im.StageLedgerEntry, im.AuthenticityCheck):
        column = model.id if model is im.Incident else model.incident_id
        assert _count(app, model, column == everything.case_id) == 0, model
    assert _count(app, im.EvidenceFile) == 0  # learner2's case has no file
    assert _count(app, im.Incident, im.Incident.id == everything.other_case_id) == 1
    with app.app_context():
        kinds = set(db.session.scalars(sa.select(Disposal.record_type)))
        assert kinds == {"declarations", "awareness_events", "emails", "case_upheld",
                         "people"}
        # The events about the case stay in the chain, by id, without personal data.
        about_case = list(db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.object_type == "incident",
            AuditEvent.object_id == str(everything.case_id))))
        assert about_case and all(e.personal is None for e in about_case)
        assert audit.verify().ok
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output


def test_an_admin_hold_keeps_everything_of_the_learner(app: Flask,
                                                       everything: Everything) -> None:
    with app.app_context():
        learner = db.session.get(Person, everything.learner_id)
        admin = db.session.scalar(sa.select(Person).where(Person.sub == "2")) or learner
        assert learner is not None and admin is not None
        retention.place_hold(learner, "Subject of a complaint to the OIA", admin)
        db.session.commit()
    report = _run(app, schedule.add_period(utcnow(), "1 year") + timedelta(days=2))
    assert [c for c in report.disposed if c.person_id == everything.learner_id] == []
    mine = [c for c in report.held if c.person_id == everything.learner_id]
    assert mine and all(c.held_by == ["an administrator's hold: Subject of a complaint to "
                                      "the OIA"] for c in mine)
    assert _count(app, Declaration, Declaration.person_id == everything.learner_id) == 3


def test_a_case_reported_to_the_awarding_body_holds_within_its_period(
        app: Flask, everything: Everything) -> None:
    reported_at = utcnow()
    with app.app_context():
        # As a Stage-3 case ends: reported to the awarding body and closed.
        db.session.execute(sa.update(im.Incident).where(im.Incident.id == everything.case_id)
                           .values(stage_action="report_to_awarding_body",  # AIU v1.0's
                                   closed_at=reported_at))
        db.session.commit()
        held = retention.holds(reported_at + timedelta(days=400))
        assert held[everything.learner_id] == [
            "a case reported to the awarding body, within its period"]
        later = schedule.add_period(reported_at, "6 years") + timedelta(days=1)
        assert everything.learner_id not in retention.holds(later)
        due = retention.candidates(later, person_id=everything.learner_id)
        assert ("case_reported", [everything.case_id]) in [(c.record_type, c.record_ids)
                                                            for c in due]


def test_a_dry_run_changes_nothing_and_says_what_would_go(
        app: Flask, everything: Everything, runner: FlaskCliRunner) -> None:
    before = row_counts(app)
    day = (schedule.add_period(utcnow(), "1 year") + timedelta(days=3)).date().isoformat()
    result = runner.invoke(args=["retention", "run", "--dry-run", "--as-of", day])
    assert result.exit_code == 0, result.output
    assert "Would dispose of: " in result.output and "declarations" in result.output
    assert "Held: " in result.output and "an open case" in result.output
    assert row_counts(app) == before
    refused = runner.invoke(args=["retention", "run", "--as-of", day])
    assert refused.exit_code != 0 and "--dry-run" in refused.output


def test_the_schedule_comes_from_configuration(app: Flask) -> None:
    app.config["RETENTION"] = {"case_not_upheld": "2 years"}
    with app.app_context():
        table = schedule.periods()
        assert table["case_not_upheld"] == "2 years" and table["case_upheld"] == "6 years"
        app.config["RETENTION"] = {"cases": "1 year"}
        with pytest.raises(schedule.ScheduleError, match="unknown kinds"):
            schedule.periods()
        app.config["RETENTION"] = {"emails": "soon"}
        with pytest.raises(schedule.ScheduleError, match="is not a period"):
            schedule.periods()


def test_a_pending_appeal_holds_the_case_and_its_disposal_takes_the_appeal_too(
        app: Flask, moodle: Any, everything: Everything) -> None:
    appeal_with_a_file(app, moodle, everything)
    start = utcnow()
    due = schedule.add_period(start, "6 years") + timedelta(days=2)
    with app.app_context():
        assert retention.holds(due)[everything.learner_id] == ["a pending appeal"]
    assert ("case_upheld", everything.learner_id) not in _disposed(_run(app, due))
    assert _count(app, im.Appeal, im.Appeal.incident_id == everything.case_id) == 1

    dismiss_the_appeal(app, moodle, everything)
    with app.app_context():
        assert everything.learner_id not in retention.holds(due)
    report = _run(app, due)
    assert ("case_upheld", everything.learner_id) in _disposed(report)
    # The appeal, the learner's file and the case go together (their foreign keys would
    # refuse a case deleted before them).
    for model in (im.Appeal, im.LearnerFile, im.AnswerDraft, im.Incident):
        column = model.id if model is im.Incident else model.incident_id
        assert _count(app, model, column == everything.case_id) == 0, model
    with app.app_context():
        assert audit.verify().ok


@pytest.mark.postgres_only
def test_only_one_worker_does_the_daily_steps_at_a_time(app: Flask) -> None:
    from lti_tool.cli import DAILY_STEPS_LOCK, _daily_privacy

    with app.app_context():
        other = db.engine.connect()  # another worker, in the middle of today's steps
        try:
            assert other.scalar(sa.text("SELECT pg_try_advisory_xact_lock(:key)"),
                                {"key": DAILY_STEPS_LOCK})
            _daily_privacy()
            assert not retention.ran_today()  # this worker left it to the other
        finally:
            other.rollback()
            other.close()
        _daily_privacy()  # the lock is free: this worker runs today's steps
        assert retention.ran_today()
        db.session.remove()
