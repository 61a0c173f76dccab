"""The stage ledger: stages count across every course on the platform, not-upheld incidents
do not count, concurrent decisions never share a stage, corrections are new events."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from lti_tool.cases import decisions
from lti_tool.cases.errors import IncidentConflict
from lti_tool.cases.evidence import EvidenceInput, evidence_of
from lti_tool.cases.models import (
    CLOSED,
    FOLLOW_UP,
    SOURCE_OBSERVATION,
    Incident,
    IncidentEvent,
    LearnerStanding,
    StageLedgerEntry,
)
from lti_tool.cases.raising import raise_incident
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.people.models import Person, Placement
from lti_tool.policy import service as policies
from tests.cases.flows import (
    ACTION_PROFESSIONAL_DISCUSSION,
    Courses,
    decide,
    incident_url,
    incidents,
    panel,
    record,
)
from tests.support.browser import FormBrowser, launch
from tests.support.pages import confirm, post_form, text


def _uphold(moodle: Any, marker: str, activity_id: int, **extra: str) -> Any:
    with FormBrowser() as browser:
        url = incident_url(record(browser, panel(browser, moodle, marker, activity_id,
                                                  "learner1")))
        return decide(browser, url, without_answer="y", **extra)


def test_stages_count_across_courses(app: Flask, declared: Courses, moodle: Any,
                                     browser: FormBrowser) -> None:
    first = _uphold(moodle, "marker1", declared.cipd.id)
    assert first.status_code == 200, first.text
    assert "Upheld</strong>: Stage 1" in first.text
    # marker2 teaches the other course: the learner's next incident there is Stage 2.
    page = panel(browser, moodle, "marker2", declared.cmi.id, "learner1")
    assert "Current stage: <strong>Stage 1</strong>" in page.text
    url = incident_url(record(browser, page))
    missing = decide(browser, url, without_answer="y")
    assert missing.status_code == 400
    assert "Choose a professional discussion or a new assignment" in missing.text
    second = decide(browser, url, without_answer="y", stage_action=ACTION_PROFESSIONAL_DISCUSSION)
    assert second.status_code == 200, second.text
    assert "Stage 2, Professional discussion" in second.text
    assert "Follow-up" in second.text
    done = post_form(browser, second, {"followup-result": "satisfactory",
                                       "followup-done_on": "2026-06-10",
                                       "followup-notes": "Explained every section well."},
                     action=url + "/follow-up")
    assert done.status_code == 200 and "the incident is closed" in done.text
    third = _uphold(moodle, "marker1", declared.cipd.id)
    assert third.status_code == 200, third.text
    assert "report to the awarding body (CIPD)" in third.text
    assert "possible removal from the course" in third.text
    stages = [(i.stage, i.state) for i in incidents(app)]
    assert stages == [(1, CLOSED), (2, CLOSED), (3, FOLLOW_UP)]
    with FormBrowser() as marker2:
        dashboard = launch(marker2, moodle, "marker2", declared.cmi.id)
        assert "Stage 3" in dashboard.text and "1 open" in dashboard.text
        filtered = marker2.open(dashboard.url + "?incidents=staged&sort=stage&order=desc")
        rows = filtered.text.split("<tbody>")[1]
        assert "Lena Learner" in rows and "Lucy Lane" not in rows
    fourth = _uphold(moodle, "marker2", declared.cmi.id)
    assert "Stage 3 again" in fourth.text
    with app.app_context():
        ordinals = list(db.session.execute(sa.select(
            StageLedgerEntry.ordinal, StageLedgerEntry.stage).order_by(StageLedgerEntry.id)))
        assert [tuple(o) for o in ordinals] == [(1, 1), (2, 2), (3, 3), (4, 3)]


def test_not_upheld_does_not_count(app: Flask, declared: Courses, moodle: Any,
                                   browser: FormBrowser) -> None:
    url = incident_url(record(browser, panel(browser, moodle, "marker1", declared.cipd.id,
                                             "learner1")))
    closed = decide(browser, url, outcome="not_upheld", without_answer="y",
                    reasons="The learner's drafts show the work is their own.")
    assert closed.status_code == 200 and "Not upheld" in closed.text
    upheld = _uphold(moodle, "marker2", declared.cmi.id)
    assert "Upheld</strong>: Stage 1" in upheld.text
    assert [(i.outcome, i.stage) for i in incidents(app)] == [("not_upheld", None),
                                                              ("upheld", 1)]


def test_deciding_needs_the_answer_or_an_explicit_choice(app: Flask, declared: Courses,
                                                         moodle: Any,
                                                         browser: FormBrowser) -> None:
    url = incident_url(record(browser, panel(browser, moodle, "marker1", declared.cipd.id,
                                             "learner1")))
    refused = decide(browser, url)
    assert refused.status_code == 400
    assert "The learner has not answered yet" in refused.text
    assert incidents(app)[0].state == "awaiting_answer"


def _raise_many(app: Flask, n: int) -> list[int]:
    """n incidents for learner1 (alternating courses), raised through the service."""
    with app.app_context():
        policy = policies.current_or_bundled()
        learner = db.session.scalar(sa.select(Person).where(Person.sub == "3"))
        markers = {p.sub: p for p in db.session.scalars(sa.select(Person).where(
            Person.sub.in_(["5", "8"])))}
        placements = list(db.session.scalars(sa.select(Placement).order_by(Placement.id)))
        assert learner is not None and len(placements) == 2
        ids = []
        for k in range(n):
            placement = placements[k % 2]
            marker = markers["5" if placement.course.context_id == "2" else "8"]
            incident = raise_incident(
                placement=placement, learner=learner, raised_by=marker,
                source=SOURCE_OBSERVATION, observations=f"Concern {k}", policy=policy,
                evidence=[EvidenceInput("A specific observation", "A made-up reference.")])
            incident.answer_due_at = utcnow() - timedelta(minutes=1)  # the window has run out
            ids.append(incident.id)
        db.session.commit()
        return ids


def _decide_in_threads(app: Flask, incident_ids: list[int]) -> list[Any]:
    barrier = threading.Barrier(len(incident_ids))
    results: list[Any] = [None] * len(incident_ids)

    def work(index: int, incident_id: int) -> None:
        with app.app_context():
            try:
                policy = policies.current_or_bundled()
                incident = db.session.get(Incident, incident_id)
                assert incident is not None
                marker = db.session.get(Person, incident.raised_by_id)
                assert marker is not None
                barrier.wait(timeout=10)
                decided = decisions.decide(
                    incident, marker, outcome="upheld", policy=policy, reasons="Upheld",
                    account_reasons="No answer was given.",
                    relied_on=[f"evidence:{e.id}" for e in evidence_of(incident)],
                    without_answer_reason="The window ran out.", acknowledged=True,
                    stage_action=ACTION_PROFESSIONAL_DISCUSSION)
                db.session.commit()
                results[index] = decided.stage
            except Exception as exc:  # noqa: BLE001 - reported to the test
                db.session.rollback()
                results[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(i, incident_id))
               for i, incident_id in enumerate(incident_ids)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_upholds_never_share_a_stage(app: Flask, declared: Courses,
                                                moodle: Any) -> None:
    ids = _raise_many(app, 4)
    stages = _decide_in_threads(app, ids)
    assert sorted(stages) == [1, 2, 3, 3], stages
    with app.app_context():
        ledger = list(db.session.execute(sa.select(StageLedgerEntry.ordinal,
                                                   StageLedgerEntry.stage)))
        assert sorted(tuple(r) for r in ledger) == [(1, 1), (2, 2), (3, 3), (4, 3)]
        standing = db.session.scalar(sa.select(LearnerStanding))
        assert standing is not None and (standing.upheld, standing.stage) == (4, 3)


def test_the_same_incident_decided_twice_at_once(app: Flask, declared: Courses,
                                                 moodle: Any) -> None:
    (incident_id,) = _raise_many(app, 1)
    results = _decide_in_threads(app, [incident_id, incident_id])
    assert sorted(r for r in results if isinstance(r, int)) == [1]
    (conflict,) = [r for r in results if not isinstance(r, int)]
    assert isinstance(conflict, IncidentConflict), conflict
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(StageLedgerEntry)) == 1
        decided = db.session.scalar(sa.select(sa.func.count()).select_from(IncidentEvent)
                                    .where(IncidentEvent.kind == "decided"))
        assert decided == 1


def test_ledger_refuses_a_second_incident_at_the_same_stage(app: Flask, declared: Courses,
                                                            moodle: Any) -> None:
    ids = _raise_many(app, 2)
    with app.app_context():
        learner_id = db.session.scalar(sa.select(Person.id).where(Person.sub == "3"))
        platform_id = db.session.scalar(sa.select(Person.platform_id).where(Person.sub == "3"))
        for incident_id in ids:
            db.session.add(StageLedgerEntry(
                platform_id=platform_id, learner_id=learner_id, incident_id=incident_id,
                ordinal=1, stage=1, action="marked_and_advised", assigned_by_id=learner_id))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.flush()
        db.session.rollback()
        db.session.add(StageLedgerEntry(
            platform_id=platform_id, learner_id=learner_id, incident_id=ids[0], ordinal=2,
            stage=1, action="marked_and_advised", assigned_by_id=learner_id))
        with pytest.raises(sa.exc.IntegrityError):  # stage must follow the ordinal
            db.session.flush()
        db.session.rollback()


def test_two_markers_submitting_at_the_same_stage(app: Flask, declared: Courses,
                                                  moodle: Any) -> None:
    with FormBrowser() as one, FormBrowser() as two:
        url_one = incident_url(record(one, panel(one, moodle, "marker1", declared.cipd.id,
                                                 "learner1")))
        url_two = incident_url(record(two, panel(two, moodle, "marker2", declared.cmi.id,
                                                 "learner1")))
        page_one, page_two = one.open(url_one), two.open(url_two)
        assert "reaches Stage 1" in page_one.text and "reaches Stage 1" in page_two.text
        # Both markers see the confirmation of a Stage 1, then confirm at the same moment.
        asked_one = decide(one, url_one, without_answer="y", confirmed=False)
        asked_two = decide(two, url_two, without_answer="y", confirmed=False)
        assert "Stage 1 across all courses" in text(asked_one)
        assert "Stage 1 across all courses" in text(asked_two)
        answers: dict[str, Any] = {}

        def submit(name: str, browser: FormBrowser, page: Any) -> None:
            answers[name] = confirm(browser, page)

        threads = [threading.Thread(target=submit, args=("one", one, asked_one)),
                   threading.Thread(target=submit, args=("two", two, asked_two))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    statuses = sorted(a.status_code for a in answers.values())
    assert statuses == [200, 409], statuses
    refused = next(a for a in answers.values() if a.status_code == 409)
    assert "would now give Stage 2" in refused.text
    assert sorted((i.stage or 0) for i in incidents(app)) == [0, 1]


def test_withdrawing_a_decision_is_a_new_event(app: Flask, declared: Courses, moodle: Any,
                                               browser: FormBrowser) -> None:
    first = _uphold(moodle, "marker1", declared.cipd.id)
    first_url = incident_url(first)
    url = incident_url(record(browser, panel(browser, moodle, "marker2", declared.cmi.id,
                                             "learner1")))
    second = decide(browser, url, without_answer="y", stage_action="new_assignment")
    assert "Stage 2, New assignment" in second.text
    with FormBrowser() as marker1:
        panel(marker1, moodle, "marker1", declared.cipd.id, "learner1")
        detail = marker1.open(first_url)
        refused = post_form(marker1, detail, {"withdraw-reason": "Wrong learner."},
                            action=first_url + "/withdraw")
        assert refused.status_code == 400 and "withdraw that decision first" in refused.text
    withdrawn = post_form(browser, second, {"withdraw-reason": "Recorded against the wrong "
                                            "assignment."}, action=url + "/withdraw")
    assert withdrawn.status_code == 200, withdrawn.text
    assert "Decision withdrawn" in withdrawn.text and "reaches Stage 2" in withdrawn.text
    again = decide(browser, url, outcome="not_upheld", without_answer="y")
    assert "Not upheld" in again.text
    with app.app_context():
        second_id = incidents(app)[1].id
        kinds = list(db.session.scalars(sa.select(IncidentEvent.kind).where(
            IncidentEvent.incident_id == second_id).order_by(IncidentEvent.seq)))
        assert kinds[-3:] == ["decided", "decision_withdrawn", "decided"]
        ledger = list(db.session.scalars(sa.select(StageLedgerEntry).order_by(
            StageLedgerEntry.id)))
        assert [(e.stage, e.revoked_at is not None) for e in ledger] == [(1, False),
                                                                         (2, True)]
        standing = db.session.scalar(sa.select(LearnerStanding))
        assert standing is not None and standing.stage == 1
