"""The stage ledger: the outcome of each stage under the case's policy, the learner's lock
that decisions serialise on, and the stage and open cases of many learners at once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError

from lti_tool.cases.errors import IncidentConflict, IncidentError
from lti_tool.cases.events import append_event, lock_incident
from lti_tool.cases.models import (
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
from lti_tool.extensions import db
from lti_tool.people.models import Person
from lti_tool.policy.rules import Outcome, Rules
from lti_tool.policy.service import Policy


def stage_meaning(policy: Policy, stage: int) -> str:
    """The policy's own words for a stage."""
    return policy.rules.stage(stage).text


def _a(words: str) -> str:
    return ("an " if words[:1] in "aeiou" else "a ") + words


def outcome_for(rules: Rules, stage: int, chosen: str | None) -> Outcome:
    """The outcome of an upheld incident at ``stage``: the stage's only one, or the one the
    decider chose among the stage's."""
    found = rules.stage(stage).outcome(chosen)
    if found is None:
        choices = " or ".join(_a(o.label.lower()) for o in rules.stage(stage).outcomes)
        raise IncidentError("stage_action", gettext("Choose %(choices)s for Stage %(stage)s.",
                                                    choices=choices, stage=stage))
    return found


def _bodies(rules: Rules, qualification: str | None) -> str:
    return qualification or " or ".join(b.short_name for b in rules.awarding_bodies)


def _joined(parts: list[str]) -> str:
    if len(parts) < 2:
        return "".join(parts)
    last = parts[-1]
    return ", ".join(parts[:-1]) + (" and, " if last.startswith("as ") else " and ") + last


def stage_consequence(rules: Rules, stage: int, qualification: str | None) -> str:
    """What reaching ``stage`` means beyond its outcome, for the decider (empty when
    nothing): a report to the awarding body at this stage, the removal and disciplinary
    flags."""
    step = rules.stage(stage)
    body = rules.awarding_body(qualification)
    parts = []
    if (body.reports_at(stage) if body is not None else stage >= rules.last_stage):
        parts.append(gettext("it is reported to the awarding body (%(bodies)s)",
                             bodies=_bodies(rules, qualification)))
    if step.removal_flag:
        parts.append(gettext("the learner is flagged for possible removal from the course"))
    if step.disciplinary_flag:
        parts.append(gettext("as misuse has been repeated, disciplinary proceedings may follow"))
    return gettext("Stage %(stage)s means %(parts)s.", stage=stage,
                   parts=_joined(parts)) if parts else ""


def decision_flags(rules: Rules, data: dict[str, object]) -> str:
    """The flags an upheld decision carries, as staff see them (empty when none)."""
    outcome = rules.outcome(str(data.get("action") or ""))
    parts = []
    if outcome is not None and outcome.report:
        parts.append(gettext("report to the awarding body (%(bodies)s)", bodies=_bodies(
            rules, str(data.get("awarding_body") or "") or None)))
    if data.get("removal_flag"):
        parts.append(gettext("possible removal from the course"))
    if data.get("disciplinary_flag"):
        parts.append(gettext("possible disciplinary proceedings (repeated misuse)"))
    if not parts:
        return ""
    if data.get("repeated"):
        return gettext("Flagged: %(flags)s; Stage %(stage)s again", flags=", ".join(parts),
                       stage=data.get("stage"))
    return gettext("Flagged: %(flags)s", flags=", ".join(parts))


def ledger_rules(key: str, incident: Incident) -> Rules:
    """The rules of the policy a ledger counts under (its published version; the case's
    own policy if that reference has none any more)."""
    from lti_tool.cases.standing import case_policy
    from lti_tool.policy.service import published

    policy = published(key.split("/", 1)[0]) or case_policy(incident)
    return policy.rules


def outcome_label(rules: Rules, key: str | None) -> str:
    """The staff label of an outcome (the key itself if the policy no longer has it)."""
    found = rules.outcome(key or "")
    return found.label if found else (key or "")


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
    raise IncidentConflict("learner_lock", gettext("The learner's record is busy. Try again."))


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


def summaries(person_ids: Iterable[int], ledger_key: str) -> dict[int, LearnerSummary]:
    """Stage (in the ledger ``ledger_key``) and open incidents of many learners in two
    queries (for the dashboard)."""
    ids = list(set(person_ids))
    if not ids:
        return {}
    stages = dict(db.session.execute(
        sa.select(StageLedgerEntry.learner_id, sa.func.max(StageLedgerEntry.stage))
        .where(StageLedgerEntry.learner_id.in_(ids),
               StageLedgerEntry.ledger_key == ledger_key,
               StageLedgerEntry.revoked_at.is_(None))
        .group_by(StageLedgerEntry.learner_id)).all())
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
            stage=int(stages.get(person_id) or 0), open_count=sum(c.values()),
            waiting_answer=c.get(AWAITING_ANSWER, 0), waiting_decision=c.get(ANSWERED, 0),
            follow_up=c.get(FOLLOW_UP, 0))
    return result


def refresh_standing(learner_standing: LearnerStanding, at: datetime) -> None:
    """Bring the learner's standing row in step with their ledgers after a change: the
    upheld incidents counted in all of them, and the highest current stage."""
    upheld, stage = db.session.execute(
        sa.select(sa.func.count(), sa.func.max(StageLedgerEntry.stage))
        .where(StageLedgerEntry.learner_id == learner_standing.person_id,
               StageLedgerEntry.revoked_at.is_(None))).one()
    learner_standing.upheld = int(upheld or 0)
    learner_standing.stage = int(stage or 0)
    learner_standing.updated_at = at


@dataclass(frozen=True)
class StageChange:
    """A later case whose stage moved when an earlier one stopped counting."""

    incident: Incident
    old_stage: int
    new_stage: int


def remove_stage(incident: Incident, actor: Person, at: datetime,
                 learner_standing: LearnerStanding) -> list[StageChange]:
    """Stop ``incident`` counting (its decision was withdrawn or replaced on appeal) and
    work the learner's stages out again in the ledger it counted in, by that ledger's
    policy: every later active entry of that ledger is revoked and recorded
    anew one place lower, at the policy's stage for its new place (a Stage 3 becomes Stage
    2, a Stage 2 Stage 1, keeping the outcome chosen where the lower stage offers it), and
    each affected case gets an event saying so. Other ledgers are not touched. Call under
    the learner's lock. Returns the cases that changed."""
    target = db.session.scalar(sa.select(StageLedgerEntry).where(
        StageLedgerEntry.incident_id == incident.id, StageLedgerEntry.revoked_at.is_(None)))
    if target is None:
        return []
    rules = ledger_rules(target.ledger_key, incident)
    later = list(db.session.scalars(
        sa.select(StageLedgerEntry).where(StageLedgerEntry.learner_id == incident.learner_id,
                                          StageLedgerEntry.ledger_key == target.ledger_key,
                                          StageLedgerEntry.ordinal > target.ordinal,
                                          StageLedgerEntry.revoked_at.is_(None))
        .order_by(StageLedgerEntry.ordinal)))
    for entry in (target, *later):
        entry.revoked_at = at
        entry.revoked_by_id = actor.id
    db.session.flush()  # the active-ordinal index must see the revocations first
    changes = []
    for entry in later:
        ordinal = entry.ordinal - 1
        stage = rules.stage_for(ordinal)
        outcome = stage.outcome(entry.action) or stage.outcomes[0]
        db.session.add(StageLedgerEntry(
            platform_id=entry.platform_id, learner_id=entry.learner_id,
            incident_id=entry.incident_id, ledger_key=entry.ledger_key, ordinal=ordinal,
            stage=stage.number, action=outcome.key, removal_flag=stage.removal_flag,
            disciplinary_flag=stage.disciplinary_flag, assigned_at=at, assigned_by_id=actor.id))
        later_case = db.session.get(Incident, entry.incident_id)
        assert later_case is not None
        lock_incident(later_case)
        if stage.number != entry.stage:
            changes.append(StageChange(later_case, entry.stage, stage.number))
        later_case.stage = stage.number
        later_case.stage_action = outcome.key
        if not outcome.needs_follow_up and later_case.state == FOLLOW_UP:
            later_case.state = CLOSED
            later_case.closed_at = at
        append_event(later_case, EV_STAGE_RECOMPUTED, actor, {
            "from_stage": entry.stage, "to_stage": stage.number, "ordinal": ordinal,
            "action": outcome.key, "action_label": outcome.label,
            "because_of": incident.id}, at)
    db.session.flush()
    refresh_standing(learner_standing, at)
    return changes
