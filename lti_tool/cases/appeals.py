"""Appeals: the learner appeals a decision within the policy's window (grounds, text and
files); an appeal reviewer new to the case dismisses it or upholds it. Upholding withdraws
the decision (to be decided again) or replaces it (not upheld, poor academic practice);
the learner's stages are worked out again across all courses and every gradebook status of
the learner is re-posted in order. Two reviewers acting at once: the first wins, the other
is told what happened (:class:`~lti_tool.cases.errors.IncidentConflict`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext, lazy_gettext
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from lti_tool.cases.access import APPEAL_REVIEW, check_may_act
from lti_tool.cases.answers import add_learner_file
from lti_tool.cases.errors import IncidentConflict, IncidentError, LinkRefused
from lti_tool.cases.events import append_event, lock_incident
from lti_tool.cases.evidence import check_file
from lti_tool.cases.ledger import lock_learner, remove_stage
from lti_tool.cases.letters import tell_learner_appeal
from lti_tool.cases.models import (
    ANSWERED,
    APPEAL_DISMISSED,
    APPEAL_PENDING,
    APPEAL_UPHELD,
    AWAITING_ANSWER,
    CLOSED,
    EV_APPEAL_DECIDED,
    EV_APPEALED,
    EV_DECIDED,
    EV_DECISION_WITHDRAWN,
    FILE_FOR_APPEAL,
    NOT_UPHELD,
    POOR_PRACTICE,
    UPHELD,
    Appeal,
    Incident,
)
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.gradesync.service import repost_declaration_grades
from lti_tool.people.models import Person
from lti_tool.policy.service import Policy


class _Words(dict[str, object]):
    """Words under their keys, handed out translated as plain strings (a reader may
    json-dump them, as the data export does with the grounds and states)."""

    def __getitem__(self, key: str) -> str:
        return str(super().__getitem__(key))

    def get(self, key: str, default: str = "") -> str:  # type: ignore[override]
        return self[key] if key in self else default

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        return [(key, self[key]) for key in self]

    def values(self) -> list[str]:  # type: ignore[override]
        return [self[key] for key in self]


GROUNDS = _Words({
    "procedure": lazy_gettext("The procedure was not followed"),
    "new_evidence": lazy_gettext("There is new evidence"),
    "bias": lazy_gettext("Bias"),
    "proportion": lazy_gettext("The outcome is out of proportion"),
})
# What an upheld appeal does to the decision.
WITHDRAW = "withdraw"
REPLACEMENTS = _Words({
    WITHDRAW: lazy_gettext(
        "Withdraw the decision: the case is decided again by someone new to it"),
    NOT_UPHELD: lazy_gettext("Replace it with: not upheld"),
    POOR_PRACTICE: lazy_gettext("Replace it with: poor academic practice (counts towards no "
                                "stage)"),
})
STATE_LABELS = _Words({APPEAL_PENDING: lazy_gettext("Waiting for a reviewer"),
                       APPEAL_DISMISSED: lazy_gettext("Dismissed"),
                       APPEAL_UPHELD: lazy_gettext("Upheld")})


def appeal_of(incident: Incident) -> Appeal | None:
    return db.session.scalar(sa.select(Appeal).where(Appeal.incident_id == incident.id))


def may_appeal(incident: Incident, now: datetime | None = None) -> bool:
    """An upheld or poor-practice decision, within its appeal window, not yet appealed."""
    now = now or utcnow()
    return (incident.outcome in (UPHELD, POOR_PRACTICE) and incident.appeal_until is not None
            and now <= incident.appeal_until and appeal_of(incident) is None)


def submit_appeal(incident: Incident, learner: Person, *, grounds: Sequence[str], text: str,
                  files: Sequence[tuple[str, bytes]] = (),
                  at: datetime | None = None) -> Appeal:
    """The learner's appeal; everything is checked before anything is written."""
    if incident.learner_id != learner.id:
        raise LinkRefused("not_your_case", gettext("This case is about someone else."), status=403)
    chosen = [g for g in GROUNDS if g in grounds]
    if not chosen:
        raise IncidentError("grounds", gettext("Choose the grounds of your appeal."))
    text = text.strip()
    if not text:
        raise IncidentError("text", gettext("Explain why you are appealing."))
    if len(text) > 10000:
        raise IncidentError("text", gettext("Your appeal must be 10,000 characters or fewer."))
    for name, content in files:
        check_file(name, content, "file")
    at = at or utcnow()
    lock_incident(incident)
    if appeal_of(incident) is not None:
        raise IncidentConflict("already_appealed", gettext("You have already appealed this "
                                                           "decision."))
    if not may_appeal(incident, at):
        raise IncidentConflict("appeal_closed", gettext("This decision can no longer be appealed: "
                                                        "the appeal window has closed or the "
                                                        "decision has changed."))
    appeal = Appeal(incident_id=incident.id, learner_id=learner.id,
                    platform_id=incident.platform_id, grounds=json.dumps(chosen), text=text,
                    submitted_at=at, state=APPEAL_PENDING)
    try:
        with db.session.begin_nested():
            db.session.add(appeal)
    except IntegrityError as exc:
        raise IncidentConflict("already_appealed", gettext("You have already appealed this "
                                                           "decision.")) from exc
    append_event(incident, EV_APPEALED, learner, {"appeal_id": appeal.id, "grounds": chosen,
                                                  "text": text}, at)
    for name, content in files:
        add_learner_file(incident, learner, purpose=FILE_FOR_APPEAL, filename=name,
                         content=content, appeal_id=appeal.id, at=at)
    return appeal


def grounds_of(appeal: Appeal) -> list[str]:
    return [GROUNDS.get(g, g) for g in json.loads(appeal.grounds)]


def queue(platform_id: int, *, pending_only: bool = True) -> list[Appeal]:
    """The platform's appeals, oldest first (pending ones only unless told otherwise)."""
    stmt = (sa.select(Appeal).where(Appeal.platform_id == platform_id)
            .options(selectinload(Appeal.incident).selectinload(Incident.learner),
                     selectinload(Appeal.incident).selectinload(Incident.course))
            .order_by(Appeal.submitted_at, Appeal.id))
    if pending_only:
        stmt = stmt.where(Appeal.state == APPEAL_PENDING)
    return list(db.session.scalars(stmt))


def review(appeal: Appeal, reviewer: Person, *, result: str, reasons: str,
           replacement: str | None, policy: Policy, at: datetime | None = None) -> Appeal:
    """Dismiss (``result`` "dismissed") or uphold ("upheld", with a ``replacement`` from
    :data:`REPLACEMENTS`) the appeal, with reasons. Raises
    :class:`~lti_tool.cases.errors.ConflictOfInterest` for a reviewer who raised or
    decided the case or is its subject, and :class:`IncidentConflict` when another
    reviewer decided it first."""
    incident = appeal.incident
    check_may_act(reviewer, incident, APPEAL_REVIEW)
    if result not in (APPEAL_DISMISSED, APPEAL_UPHELD):
        raise IncidentError("result", gettext("Choose whether to dismiss or uphold the appeal."))
    reasons = reasons.strip()
    if not reasons:
        raise IncidentError("reasons", gettext("Give the reasons for your decision on the appeal."))
    if result == APPEAL_UPHELD and replacement not in REPLACEMENTS:
        raise IncidentError("replacement", gettext("Choose what happens to the decision."))
    at = at or utcnow()
    learner_standing = lock_learner(incident.learner_id, incident.platform_id)
    lock_incident(incident)
    db.session.refresh(appeal)
    if appeal.state != APPEAL_PENDING:
        raise IncidentConflict("appeal_decided", gettext(
            "Another reviewer has just decided this appeal: %(result)s. The page now shows its "
            "result.", result=STATE_LABELS[appeal.state].lower()))
    appeal.state = result
    appeal.reviewer_id = reviewer.id
    appeal.reviewed_at = at
    appeal.reasons = reasons
    changed: list[int] = []
    if result == APPEAL_UPHELD:
        was_upheld = incident.outcome == UPHELD
        changed = [c.incident.id for c in remove_stage(incident, reviewer, at,
                                                       learner_standing)]
        incident.stage = None
        incident.stage_action = None
        incident.appeal_until = None
        if replacement == WITHDRAW:
            incident.state = ANSWERED if incident.answered_at else AWAITING_ANSWER
            incident.outcome = None
            incident.decided_at = None
            incident.decided_by_id = None
            incident.closed_at = None
            append_event(incident, EV_DECISION_WITHDRAWN, reviewer, {
                "reason": f"Appeal upheld: {reasons}", "appeal_id": appeal.id,
                "outcome": UPHELD if was_upheld else POOR_PRACTICE}, at)
        else:
            appeal.result_finding = replacement
            incident.state = CLOSED
            incident.outcome = replacement
            incident.decided_at = at
            incident.decided_by_id = reviewer.id
            incident.closed_at = at
            append_event(incident, EV_DECIDED, reviewer, {
                "outcome": replacement, "reasons": reasons, "appeal_id": appeal.id,
                "replaces_on_appeal": True, "relied_on": [], "account_reasons": ""}, at)
    append_event(incident, EV_APPEAL_DECIDED, reviewer, {
        "appeal_id": appeal.id, "result": result, "replacement": replacement,
        "reasons": reasons, "stages_changed": changed}, at)
    if result == APPEAL_UPHELD:
        repost_declaration_grades(incident.learner, None, at=at)
    tell_learner_appeal(appeal, policy)
    return appeal
