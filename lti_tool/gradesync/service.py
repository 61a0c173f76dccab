"""Queueing scores for Moodle's gradebook (AGS), safely.

Moodle refuses (409) a score whose timestamp is not strictly later, to the second, than the
one it holds, and a score that is not ``FullyGraded`` or has no ``scoreGiven`` *clears* the
grade. Every score the tool sends goes through :func:`queue_score`, which gives each
(line item, learner) strictly increasing whole-second timestamps and always sends a graded
score. The declaration grade's feedback is worded in :mod:`lti_tool.gradesync.wording`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from lti_tool.dbtypes import utcnow
from lti_tool.declarations.models import Declaration
from lti_tool.extensions import db
from lti_tool.outbox.handlers import SCORE
from lti_tool.outbox.models import OutboxMessage
from lti_tool.outbox.service import enqueue
from lti_tool.people.models import Course, Person, Placement

if TYPE_CHECKING:
    from lti_tool.policy.service import Policy


def _ordering_key(placement: Placement, user_sub: str) -> str:
    return f"score:placement:{placement.id}:{user_sub}"


def _last_timestamp(key: str) -> datetime | None:
    payload = db.session.scalar(
        sa.select(OutboxMessage.payload).where(OutboxMessage.ordering_key == key)
        .order_by(OutboxMessage.id.desc()).limit(1))
    if payload is None:
        return None
    return datetime.fromisoformat(json.loads(payload)["score"]["timestamp"])


def queue_score(placement: Placement, user_sub: str, *, score_given: float,
                score_maximum: float, comment: str, at: datetime | None = None,
                activity_progress: str = "Completed") -> OutboxMessage:
    """Queue a FullyGraded score for ``user_sub`` on the placement's line item.

    ``at`` is when the decision was made (Moodle 5.1 shows it as the graded date); it is
    moved forward by whole seconds if needed so that it is later than the last score sent.
    """
    key = _ordering_key(placement, user_sub)
    moment = (at or utcnow()).replace(microsecond=0)
    last = _last_timestamp(key)
    if last is not None and moment <= last:
        moment = last + timedelta(seconds=1)
    course = db.session.get(Course, placement.course_id)
    assert course is not None
    score = {
        "userId": user_sub,
        "scoreGiven": score_given,
        "scoreMaximum": score_maximum,
        "activityProgress": activity_progress,
        "gradingProgress": "FullyGraded",
        "timestamp": moment.isoformat(),
        "comment": comment,
    }
    payload = {"lineitem_url": placement.lineitem_url,
               "lineitems_url": placement.lineitems_url,
               "resource_link_id": placement.resource_link_id, "score": score}
    return enqueue(SCORE, payload, ordering_key=key, platform_id=course.platform_id,
                   summary=f"Score {score_given}/{score_maximum} for user {user_sub} on "
                           f"{placement.display_name}")


def score_state(placement: Placement, user_sub: str,
                since: datetime) -> tuple[str, datetime | None] | None:
    """(outbox status, delivered at) of the first score queued for the learner on the
    placement at or after ``since``, or None if there is none (the state a receipt
    shows: recorded in Moodle's gradebook, or waiting for Moodle)."""
    row = db.session.execute(
        sa.select(OutboxMessage.status, OutboxMessage.delivered_at)
        .where(OutboxMessage.ordering_key == _ordering_key(placement, user_sub),
               OutboxMessage.created_at >= since)
        .order_by(OutboxMessage.id).limit(1)).first()
    return (row[0], row[1]) if row is not None else None


def queue_declaration_grade(person: Person, placement: Placement, declaration: Declaration,
                            policy: Policy, *, at: datetime | None = None) -> OutboxMessage:
    """Queue 1/1 with the declaration's feedback (and any case's note) for the learner."""
    from lti_tool.gradesync.wording import feedback

    return queue_score(placement, person.sub, score_given=1, score_maximum=1,
                       comment=feedback(person, placement, declaration, policy), at=at)


def repost_declaration_grades(person: Person, placements: Sequence[Placement] | None = None,
                              *, at: datetime | None = None) -> int:
    """Queue the declaration grade again with the current feedback, on ``placements`` (all
    the learner's placements when None) where the learner has declared. Always 1/1,
    FullyGraded, through :func:`queue_score`: the gradebook gate stays open. Nothing is
    sent where the learner has not declared (a 0 would be a grade the learner never had).
    Scores are queued in declaration order; returns how many were queued."""
    from lti_tool.policy.service import by_id

    latest_ids = sa.select(sa.func.max(Declaration.id)).where(
        Declaration.person_id == person.id).group_by(Declaration.placement_id)
    if placements is not None:
        latest_ids = latest_ids.where(Declaration.placement_id.in_([p.id for p in placements]))
    queued = 0
    for declaration in db.session.scalars(
            sa.select(Declaration).where(Declaration.id.in_(latest_ids))
            .options(selectinload(Declaration.placement)).order_by(Declaration.id)):
        policy = by_id(declaration.policy_version_id)
        assert policy is not None
        queue_declaration_grade(person, declaration.placement, declaration, policy, at=at)
        queued += 1
    return queued
