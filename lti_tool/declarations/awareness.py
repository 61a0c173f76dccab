"""Evidence that the learner was made aware of the rules (what awarding bodies ask when
malpractice is reported): when they first saw the policy for the activity and first opened
the full policy, per policy version; and the optional comprehension check, whose questions
are part of the policy version's data (``comprehension``)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlalchemy as sa

from lti_tool.dbtypes import insert_ignoring_duplicates, utcnow
from lti_tool.declarations.models import (
    AWARENESS_KINDS,
    AwarenessEvent,
    ComprehensionAttempt,
)
from lti_tool.extensions import db
from lti_tool.people.models import Person, Placement
from lti_tool.policy.service import Policy

# Built once: every learner page records an event (the insert is ignored when it exists).
_INSERT_FIRST = insert_ignoring_duplicates(AwarenessEvent)


def record(person: Person, placement: Placement, policy: Policy, kind: str) -> None:
    """Record the first time ``kind`` happened for the learner, activity and policy
    version; later times change nothing (one statement, safe when two tabs race)."""
    if kind not in AWARENESS_KINDS:
        raise ValueError(f"unknown awareness event {kind!r}")
    db.session.execute(_INSERT_FIRST[db.session.get_bind().dialect.name], {
        "person_id": person.id, "placement_id": placement.id,
        "policy_version_id": policy.id, "kind": kind, "at": utcnow()})


def events(person_id: int, placement_id: int) -> list[AwarenessEvent]:
    """The learner's made-aware events for the activity, oldest first."""
    return list(db.session.scalars(
        sa.select(AwarenessEvent).where(AwarenessEvent.person_id == person_id,
                                        AwarenessEvent.placement_id == placement_id)
        .order_by(AwarenessEvent.at, AwarenessEvent.id)))


def describe(event: AwarenessEvent) -> str:
    return (f"{AWARENESS_KINDS[event.kind]} (policy {event.policy_version.label}): "
            f"{event.at:%d %B %Y at %H:%M} UTC")


# --- the comprehension check ------------------------------------------------------------------

@dataclass(frozen=True)
class Question:
    key: str
    question: str
    choices: list[tuple[str, str]]
    answer: str
    because: list[str]  # the policy's own words


def questions(policy: Policy) -> list[Question]:
    """The policy version's comprehension questions (none if it has no ``comprehension``)."""
    return [Question(q["key"], q["question"], [(c["key"], c["text"]) for c in q["choices"]],
                     q["answer"], list(q["because"]))
            for q in policy.data.get("comprehension") or []]


def wrong_answers(policy: Policy, answers: dict[str, str]) -> list[Question]:
    """The questions answered wrongly (or not at all)."""
    return [q for q in questions(policy) if answers.get(q.key) != q.answer]


def attempt(person: Person, placement: Placement, policy: Policy,
            answers: dict[str, str]) -> list[Question]:
    """Record a go at the check; returns the questions answered wrongly (empty: passed)."""
    asked = {q.key for q in questions(policy)}
    wrong = wrong_answers(policy, answers)
    db.session.add(ComprehensionAttempt(
        person_id=person.id, placement_id=placement.id, policy_version_id=policy.id,
        answers=json.dumps({k: v for k, v in answers.items() if k in asked}, sort_keys=True),
        passed=not wrong))
    db.session.flush()
    return wrong


def result(person: Person, placement: Placement, policy: Policy) -> str | None:
    """The check's result for a declaration (JSON: attempts and when it was passed), or
    None when the learner has not passed it under this policy version."""
    rows = list(db.session.scalars(
        sa.select(ComprehensionAttempt).where(
            ComprehensionAttempt.person_id == person.id,
            ComprehensionAttempt.placement_id == placement.id,
            ComprehensionAttempt.policy_version_id == policy.id)
        .order_by(ComprehensionAttempt.id)))
    passed = next((i for i, row in enumerate(rows) if row.passed), None)
    if passed is None:
        return None
    return json.dumps({"attempts": passed + 1,
                       "passed_at": rows[passed].created_at.isoformat()})


def needed(settings_check: bool, policy: Policy) -> bool:
    """Whether the learner must pass the check before declaring."""
    return settings_check and bool(questions(policy))
