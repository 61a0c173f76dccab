"""The stage ledger: the policy's action for each stage, the learner's lock that decisions
serialise on, and the stage and open cases of many learners at once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from lti_tool.cases.errors import IncidentConflict, IncidentError
from lti_tool.cases.events import append_event, lock_incident
from lti_tool.cases.models import (
    ACTION_MARKED_AND_ADVISED,
    ACTION_NEW_ASSIGNMENT,
    ACTION_PROFESSIONAL_DISCUSSION,
    ACTION_REPORT_TO_AWARDING_BODY,
    ANSWERED,
    AWAITING_ANSWER,
    CLOSED,
    EV_STAGE_RECOMPUTED,
    FOLLOW_UP,
    OPEN_STATES,
    Incident,
    LearnerStanding,
    StageLedgerEntry,
)
from lti_tool.cases.standing import MAX_STAGE
from lti_tool.extensions import db
from lti_tool.people.models import Person
from lti_tool.policy.service import Policy

ACTION_LABELS = {
    ACTION_MARKED_AND_ADVISED: "Work marked; learner advised not to submit work in the same "
                               "way again",
    ACTION_PROFESSIONAL_DISCUSSION: "Professional discussion",
    ACTION_NEW_ASSIGNMENT: "New assignment",
    ACTION_REPORT_TO_AWARDING_BODY: "Report to the awarding body",
}


STAGE_2_ACTIONS = (ACTION_PROFESSIONAL_DISCUSSION, ACTION_NEW_ASSIGNMENT)


def stage_meaning(policy: Policy, stage: int) -> str:
    """The policy's own words for a stage."""
    return str(policy["stages"][stage - 1]["text"])


def action_for(stage: int, chosen: str | None) -> str:
    if stage == 1:
        return ACTION_MARKED_AND_ADVISED
    if stage == 2:
        if chosen not in STAGE_2_ACTIONS:
            raise IncidentError("stage_action", "Choose a professional discussion or a new "
                                "assignment for Stage 2.")
        return chosen
    return ACTION_REPORT_TO_AWARDING_BODY


def lock_learner(learner_id: int, platform_id: int) -> LearnerStanding:
    """Take the learner's lock: an UPDATE of their standing row (a row lock on PostgreSQL,
    the write lock on SQLite), creating the row first if needed. Held until commit."""
    for _ in range(3):
        updated = db.session.execute(
            sa.update(LearnerStanding).where(LearnerStanding.person_id == learner_id)
            .values(version=LearnerStanding.version + 1)
            .execution_options(synchronize_session=False))
        if updated.rowcount == 1:  # type: ignore[attr-defined]
            row = db.session.get(LearnerStanding, learner_id, populate_existing=True)
            assert row is not None
            return row
        try:
            with db.session.begin_nested():
                db.session.add(LearnerStanding(person_id=learner_id, platform_id=platform_id))
        except IntegrityError:
            continue  # created by another transaction at the same moment: lock it
    raise IncidentConflict("learner_lock", "The learner's record is busy. Try again.")


def ensure_standing(learner: Person) -> None:
    if db.session.get(LearnerStanding, learner.id) is not None:
        return
    try:
        with db.session.begin_nested():
            db.session.add(LearnerStanding(person_id=learner.id, platform_id=learner.platform_id))
    except IntegrityError:
        pass  # another request created it


@dataclass(frozen=True)
class LearnerSummary:
    stage: int
    open_count: int
    waiting_answer: int
    waiting_decision: int
    follow_up: int


def summaries(person_ids: Iterable[int]) -> dict[int, LearnerSummary]:
    """Stage and open incidents of many learners in two queries (for the dashboard)."""
    ids = list(set(person_ids))
    if not ids:
        return {}
    stages = dict(db.session.execute(
        sa.select(LearnerStanding.person_id, LearnerStanding.stage)
        .where(LearnerStanding.person_id.in_(ids))).all())
    counts: dict[int, dict[str, int]] = {}
    for learner_id, state, n in db.session.execute(
            sa.select(Incident.learner_id, Incident.state, sa.func.count())
            .where(Incident.learner_id.in_(ids), Incident.state.in_(OPEN_STATES))
            .group_by(Incident.learner_id, Incident.state)):
        counts.setdefault(learner_id, {})[state] = int(n)
    result = {}
    for person_id in ids:
        c = counts.get(person_id, {})
        result[person_id] = LearnerSummary(
            stage=int(stages.get(person_id, 0)), open_count=sum(c.values()),
            waiting_answer=c.get(AWAITING_ANSWER, 0), waiting_decision=c.get(ANSWERED, 0),
            follow_up=c.get(FOLLOW_UP, 0))
    return result


@dataclass(frozen=True)
class StageChange:
    """A later case whose stage moved when an earlier one stopped counting."""

    incident: Incident
    old_stage: int
    new_stage: int


def remove_stage(incident: Incident, actor: Person, at: datetime,
                 learner_standing: LearnerStanding) -> list[StageChange]:
    """Stop ``incident`` counting (its decision was withdrawn or replaced on appeal) and
    work the learner's stages out again across all courses: every later active entry is
    revoked and recorded anew one place lower (a Stage 3 becomes Stage 2, a Stage 2 Stage
    1), each affected case gets an event saying so. Call under the learner's lock.
    Returns the cases that changed."""
    entries = list(db.session.scalars(
        sa.select(StageLedgerEntry).where(StageLedgerEntry.learner_id == incident.learner_id,
                                          StageLedgerEntry.revoked_at.is_(None))
        .order_by(StageLedgerEntry.ordinal)))
    target = next((e for e in entries if e.incident_id == incident.id), None)
    if target is None:
        return []
    later = [e for e in entries if e.ordinal > target.ordinal]
    for entry in (target, *later):
        entry.revoked_at = at
        entry.revoked_by_id = actor.id
    db.session.flush()  # the active-ordinal index must see the revocations first
    changes = []
    for entry in later:
        ordinal = entry.ordinal - 1
        stage = min(ordinal, MAX_STAGE)
        action = (ACTION_MARKED_AND_ADVISED if stage == 1 else ACTION_REPORT_TO_AWARDING_BODY
                  if stage == MAX_STAGE else entry.action if entry.action in STAGE_2_ACTIONS
                  else ACTION_PROFESSIONAL_DISCUSSION)
        db.session.add(StageLedgerEntry(
            platform_id=entry.platform_id, learner_id=entry.learner_id,
            incident_id=entry.incident_id, ordinal=ordinal, stage=stage, action=action,
            removal_flag=stage == MAX_STAGE, disciplinary_flag=stage == MAX_STAGE,
            assigned_at=at, assigned_by_id=actor.id))
        later_case = db.session.get(Incident, entry.incident_id)
        assert later_case is not None
        lock_incident(later_case)
        if stage != entry.stage:
            changes.append(StageChange(later_case, entry.stage, stage))
        later_case.stage = stage
        later_case.stage_action = action
        if stage == 1 and later_case.state == FOLLOW_UP:
            later_case.state = CLOSED
            later_case.closed_at = at
        append_event(later_case, EV_STAGE_RECOMPUTED, actor, {
            "from_stage": entry.stage, "to_stage": stage, "ordinal": ordinal,
            "action": action, "because_of": incident.id}, at)
    db.session.flush()
    learner_standing.upheld = len(entries) - 1
    learner_standing.stage = min(len(entries) - 1, MAX_STAGE)
    learner_standing.updated_at = at
    return changes
