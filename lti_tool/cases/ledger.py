"""The stage ledger: the policy's action for each stage, the learner's lock that decisions
serialise on, and the stage and open cases of many learners at once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from lti_tool.cases.errors import IncidentConflict, IncidentError
from lti_tool.cases.models import (
    ACTION_MARKED_AND_ADVISED,
    ACTION_NEW_ASSIGNMENT,
    ACTION_PROFESSIONAL_DISCUSSION,
    ACTION_REPORT_TO_AWARDING_BODY,
    ANSWERED,
    AWAITING_ANSWER,
    FOLLOW_UP,
    OPEN_STATES,
    Incident,
    LearnerStanding,
)
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
