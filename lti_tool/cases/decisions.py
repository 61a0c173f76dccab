"""Deciding a case (upheld takes the learner's next stage in the ledger of the case's policy,
under their lock), withdrawing a decision made in error, and the follow-up an outcome asks
for (the policy's ``outcomes[].follow_up``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError

from lti_tool.cases.access import DECIDE, FOLLOW_UP_ACTION, WITHDRAW, check_may_act
from lti_tool.cases.clocks import reportable
from lti_tool.cases.errors import IncidentConflict, IncidentError, StageChanged
from lti_tool.cases.events import append_event, lock_incident
from lti_tool.cases.ledger import (
    lock_learner,
    outcome_for,
    refresh_standing,
    stage_meaning,
)
from lti_tool.cases.letters import tell_learner_decision
from lti_tool.cases.models import (
    ANSWERED,
    AWAITING_ANSWER,
    CLOSED,
    EV_DECIDED,
    EV_DECISION_WITHDRAWN,
    EV_FOLLOW_UP_RECORDED,
    FOLLOW_UP,
    NOT_UPHELD,
    POOR_PRACTICE,
    UNDECIDED_STATES,
    UPHELD,
    Incident,
    StageLedgerEntry,
)
from lti_tool.cases.reporting import tell_reporters
from lti_tool.cases.safeguards import Finding, check_finding, decision_context, sources
from lti_tool.cases.standing import case_ledger, case_policy, standing_in
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.gradesync.service import repost_declaration_grades
from lti_tool.people.models import Person
from lti_tool.policy.service import Policy


def decide(incident: Incident, decider: Person, *, outcome: str, reasons: str,
           policy: Policy, stage_action: str | None = None, expected_stage: int | None = None,
           account_reasons: str = "", relied_on: Sequence[str] = (),
           without_answer_reason: str = "", acknowledged: bool = False,
           at: datetime | None = None) -> Incident:
    """The decision, once :func:`~lti_tool.cases.safeguards.check_finding` accepts it
    (checked again under the locks). *Not upheld* closes the case; *poor academic
    practice* closes it as an educational outcome; neither counts towards a stage.
    *Upheld* gives it the learner's next stage in the case's ledger (the placement's
    policy, and its qualification when that policy counts per qualification), under the
    learner's lock, and records the stage's outcome (``stage_action`` chooses one where the
    stage offers several) with the stage's removal and disciplinary flags: an outcome with
    no follow-up closes the case, one with a follow-up waits for it. With
    ``expected_stage`` (the stage the decider was shown) a different stage
    raises :class:`StageChanged`; a concurrent decision never yields the same stage twice
    (the ledger's unique index backs the lock). The learner is sent the decision letter
    and may appeal for ``case_process.appeal_days``.
    """
    check_may_act(decider, incident, DECIDE)
    finding = Finding(outcome, reasons.strip(), account_reasons.strip(), tuple(relied_on),
                      without_answer_reason.strip(), acknowledged)
    check_finding(incident, finding, policy)
    at = at or utcnow()
    learner_standing = lock_learner(incident.learner_id, incident.platform_id)
    lock_incident(incident)
    if incident.state not in UNDECIDED_STATES:
        raise IncidentConflict("already_decided", gettext("This incident has already been "
                                                          "decided."))
    check_finding(incident, finding, policy, at)
    data: dict[str, Any] = {
        "outcome": outcome, "reasons": finding.reasons,
        "account_reasons": finding.account_reasons,
        "relied_on": [s.label for s in sources(incident) if s.key in finding.relied_on],
        "without_answer": incident.state == AWAITING_ANSWER,
        "without_answer_reason": finding.without_answer_reason or None,
        "warnings": decision_context(incident).warnings}
    if outcome != UPHELD:
        incident.state = CLOSED
        incident.closed_at = at
    else:
        ledger = case_ledger(incident)
        upheld_so_far = int(db.session.scalar(
            sa.select(sa.func.count()).select_from(StageLedgerEntry).where(
                StageLedgerEntry.platform_id == incident.platform_id,
                StageLedgerEntry.learner_id == incident.learner_id,
                StageLedgerEntry.ledger_key == ledger.key,
                StageLedgerEntry.revoked_at.is_(None))) or 0)
        ordinal = upheld_so_far + 1
        stage = ledger.rules.stage_for(ordinal)
        if expected_stage is not None and expected_stage != stage.number:
            raise StageChanged(stage.number)
        chosen = outcome_for(ledger.rules, stage.number, stage_action)
        entry = StageLedgerEntry(
            platform_id=incident.platform_id, learner_id=incident.learner_id,
            incident_id=incident.id, ledger_key=ledger.key, ordinal=ordinal,
            stage=stage.number, action=chosen.key, removal_flag=stage.removal_flag,
            disciplinary_flag=stage.disciplinary_flag, assigned_at=at,
            assigned_by_id=decider.id)
        try:
            with db.session.begin_nested():
                db.session.add(entry)
        except IntegrityError as exc:  # the lock makes this unreachable; the index decides
            raise StageChanged(stage.number) from exc
        refresh_standing(learner_standing, at)
        incident.stage = stage.number
        incident.stage_action = chosen.key
        incident.state = FOLLOW_UP if chosen.needs_follow_up else CLOSED
        incident.closed_at = None if chosen.needs_follow_up else at
        data.update({"stage": stage.number, "ordinal": ordinal, "action": chosen.key,
                     "action_label": chosen.label, "ledger": ledger.key,
                     "removal_flag": entry.removal_flag,
                     "disciplinary_flag": entry.disciplinary_flag,
                     "repeated": ordinal > len(ledger.rules.stages)})
        if chosen.report:
            from lti_tool.declarations.service import effective_settings

            data["awarding_body"] = effective_settings(incident.placement).qualification
    incident.outcome = outcome
    incident.decided_at = at
    incident.decided_by_id = decider.id
    incident.appeal_until = (at + timedelta(days=policy.case_process.appeal_days)
                             if outcome != NOT_UPHELD else None)
    data["appeal_until"] = incident.appeal_until
    append_event(incident, EV_DECIDED, decider, data, at)
    tell_learner_decision(incident, policy, data)
    if reportable(incident, policy):
        tell_reporters(incident, policy, at)
    learner = incident.learner
    repost_declaration_grades(learner, None if outcome == UPHELD else [incident.placement], at=at)
    return incident


def consequences(incident: Incident, finding: Finding, policy: Policy,
                 at: datetime | None = None) -> list[str]:
    """What recording ``finding`` will do, in plain words, for the confirmation step
    (nothing is written): the stage across all courses, what Moodle's gradebook will show,
    the letter and the appeal window."""
    from lti_tool.declarations.service import history
    from lti_tool.gradesync.wording import declaration_comment, stage_note
    from lti_tool.policy.service import by_id

    at = at or utcnow()
    name = incident.learner.display_name
    ledger = case_ledger(incident)
    current = standing_in(incident.learner, ledger)
    lines = []
    stage = current.stage
    if finding.outcome == UPHELD:
        stage = current.next_stage
        meaning = stage_meaning(ledger.policy, stage)
        if current.next_is_repeat:
            lines.append(gettext("This will be %(name)s's Stage %(stage)s again (repeated misuse) "
                                 "%(scope)s. The policy says: \u201c%(meaning)s\u201d",
                                 name=name, stage=stage, scope=current.scope_text,
                                 meaning=meaning))
        else:
            lines.append(gettext("This will be %(name)s's Stage %(stage)s %(scope)s. The policy "
                                 "says: \u201c%(meaning)s\u201d", name=name, stage=stage,
                                 scope=current.scope_text, meaning=meaning))
    elif finding.outcome == POOR_PRACTICE:
        if stage:
            lines.append(gettext("This closes the case as poor academic practice: an educational "
                                 "outcome that does not count towards a stage (%(name)s stays "
                                 "at Stage %(stage)s).", name=name, stage=stage))
        else:
            lines.append(gettext("This closes the case as poor academic practice: an educational "
                                 "outcome that does not count towards a stage (%(name)s stays "
                                 "at no stage).", name=name))
    elif stage:
        lines.append(gettext("This closes the case. It does not count towards a stage (%(name)s "
                             "stays at Stage %(stage)s).", name=name, stage=stage))
    else:
        lines.append(gettext("This closes the case. It does not count towards a stage (%(name)s "
                             "stays at no stage).", name=name))
    declarations = history(incident.learner_id, incident.placement_id)
    declared_policy = by_id(declarations[0].policy_version_id) if declarations else None
    if declarations and declared_policy is not None:
        since = at if finding.outcome == UPHELD else current.since
        note = (f". {stage_note(stage, since, current.last_stage)}" if stage and since
                else "")
        lines.append(gettext("Moodle's gradebook will show: \u201c%(comment)s\u201d (the grade "
                             "stays 1/1).", comment=declaration_comment(declarations[0],
                                                                       declared_policy) + note))
    else:
        lines.append(gettext("Moodle's gradebook shows nothing for this activity: the learner "
                             "has not declared in it."))
    if finding.outcome != NOT_UPHELD:
        lines.append(gettext("%(name)s will get the decision letter in the tool and by email, "
                             "and may appeal within %(days)s days.", name=name,
                             days=policy.case_process.appeal_days))
    else:
        lines.append(gettext("%(name)s will get the decision letter in the tool and by email.",
                             name=name))
    return lines


def withdraw_decision(incident: Incident, actor: Person, reason: str,
                      at: datetime | None = None) -> Incident:
    """Correct a decision made in error: the incident is open again (to decide anew) and,
    if it was upheld, its stage no longer counts. Only the learner's latest upheld incident
    can lose its stage (a later one depends on it). The earlier decision stays in the
    events."""
    check_may_act(actor, incident, WITHDRAW)
    reason = reason.strip()
    if not reason:
        raise IncidentError("reason", gettext("Give the reason for withdrawing the decision."))
    at = at or utcnow()
    learner_standing = lock_learner(incident.learner_id, incident.platform_id)
    lock_incident(incident)
    if incident.state in UNDECIDED_STATES:
        raise IncidentConflict("not_decided", gettext("This incident has no decision to withdraw."))
    data: dict[str, Any] = {"reason": reason, "outcome": incident.outcome,
                            "stage": incident.stage}
    if incident.outcome == UPHELD:
        entry = db.session.scalar(sa.select(StageLedgerEntry).where(
            StageLedgerEntry.incident_id == incident.id, StageLedgerEntry.revoked_at.is_(None)))
        if entry is not None:
            top = db.session.scalar(sa.select(sa.func.max(StageLedgerEntry.ordinal)).where(
                StageLedgerEntry.learner_id == incident.learner_id,
                StageLedgerEntry.ledger_key == entry.ledger_key,
                StageLedgerEntry.revoked_at.is_(None)))
            if entry.ordinal != top:
                raise IncidentError("reason", gettext("A later upheld incident for this learner "
                                                      "builds on this stage: withdraw that "
                                                      "decision first."))
            entry.revoked_at = at
            entry.revoked_by_id = actor.id
            db.session.flush()
            refresh_standing(learner_standing, at)
            data["ordinal"] = entry.ordinal
    incident.state = ANSWERED if incident.answered_at else AWAITING_ANSWER
    incident.outcome = None
    incident.stage = None
    incident.stage_action = None
    incident.decided_at = None
    incident.decided_by_id = None
    incident.closed_at = None
    incident.appeal_until = None
    append_event(incident, EV_DECISION_WITHDRAWN, actor, data, at)
    repost_declaration_grades(incident.learner, None if data["outcome"] == UPHELD else
                              [incident.placement], at=at)
    return incident


def follow_up_results(incident: Incident, policy: Policy | None = None) -> dict[str, str]:
    """The results the case's outcome lets staff record (empty: it has no follow-up)."""
    rules = (policy or case_policy(incident)).rules
    found = rules.outcome(incident.stage_action or "")
    return {r.key: r.label for r in found.follow_up} if found else {}


def record_follow_up(incident: Incident, actor: Person, *, result: str, notes: str,
                     done_on: date, policy: Policy | None = None,
                     at: datetime | None = None) -> Incident:
    """Record the follow-up the case's outcome asks for (the result of a professional
    discussion, that the report was sent to the awarding body...: the policy's
    ``outcomes[].follow_up``); the incident closes."""
    check_may_act(actor, incident, FOLLOW_UP_ACTION)
    lock_incident(incident)
    if incident.state != FOLLOW_UP or incident.stage is None:
        raise IncidentConflict("no_follow_up", gettext("This incident has no follow-up to record."))
    results = follow_up_results(incident, policy)
    if result not in results:
        raise IncidentError("result", gettext("Choose the result."))
    if not notes.strip():
        raise IncidentError("notes", gettext("Enter notes on the result."))
    if done_on > utcnow().date():
        raise IncidentError("done_on", gettext("The date cannot be in the future."))
    at = at or utcnow()
    incident.state = CLOSED
    incident.closed_at = at
    append_event(incident, EV_FOLLOW_UP_RECORDED, actor, {
        "result": result, "result_label": results[result], "notes": notes.strip(),
        "done_on": done_on.isoformat(), "action": incident.stage_action,
        "stage": incident.stage}, at)
    return incident
