"""Reading a case: its timeline in plain English, its state for staff, and notes (a note may
correct an earlier step; nothing earlier changes)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext
from sqlalchemy.orm import selectinload

from lti_tool.cases.access import NOTE, check_may_act
from lti_tool.cases.check_plans import describe_change
from lti_tool.cases.checks import CHECK_OUTCOMES
from lti_tool.cases.errors import IncidentError
from lti_tool.cases.events import append_event, lock_incident
from lti_tool.cases.ledger import outcome_label
from lti_tool.cases.models import (
    ANSWERED,
    AWAITING_ANSWER,
    EV_ANSWER_FILE_ADDED,
    EV_ANSWERED,
    EV_APPEAL_DECIDED,
    EV_APPEALED,
    EV_CHECK_PLANNED,
    EV_CHECK_RECORDED,
    EV_DECIDED,
    EV_DECISION_WITHDRAWN,
    EV_DECLINED_TO_ANSWER,
    EV_EVIDENCE_ADDED,
    EV_FOLLOW_UP_RECORDED,
    EV_LEARNER_ASKED,
    EV_NOTE_ADDED,
    EV_RAISED,
    EV_REMINDER_SENT,
    EV_STAGE_RECOMPUTED,
    FOLLOW_UP,
    POOR_PRACTICE,
    SOURCE_CHECKER,
    UPHELD,
    Incident,
    IncidentEvent,
)
from lti_tool.cases.reporting import describe_event
from lti_tool.extensions import db
from lti_tool.people.models import Person
from lti_tool.policy.rules import Rules


@dataclass(frozen=True)
class TimelineEntry:
    seq: int
    kind: str
    at: datetime
    actor: str  # a person's name, or "AIU" for the system
    data: dict[str, Any]


def timeline(incident: Incident) -> list[TimelineEntry]:
    """Every step of the incident in order, with who and when (for the page and reports)."""
    events = db.session.scalars(
        sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident.id)
        .options(selectinload(IncidentEvent.actor_person)).order_by(IncidentEvent.seq))
    return [TimelineEntry(e.seq, e.kind, e.at,
                          e.actor_person.display_name if e.actor_person else "AIU",
                          json.loads(e.data)) for e in events]


def state_label(incident: Incident) -> str:
    """The incident's state for staff."""
    if incident.state == AWAITING_ANSWER:
        return gettext("Waiting for the learner's answer")
    if incident.state == ANSWERED:
        return gettext("Answered: decision needed")
    if incident.state == FOLLOW_UP:
        return gettext("Upheld at Stage %(stage)s: follow-up to record", stage=incident.stage)
    if incident.outcome == UPHELD:
        return gettext("Upheld at Stage %(stage)s", stage=incident.stage)
    if incident.outcome == POOR_PRACTICE:
        return gettext("Poor academic practice (counts towards no stage)")
    return gettext("Not upheld")


def describe(entry: TimelineEntry, rules: Rules | None = None) -> str:
    """One step of an incident in plain English (for the incident page and the reports).
    Outcomes and follow-up results are named as the event recorded them, or else by
    ``rules`` (the case's policy; AIU v1.0's when not given)."""
    d = entry.data
    if rules is None:
        from lti_tool.policy.service import bundled_rules

        rules = bundled_rules()
    kind = entry.kind
    told = describe_change(kind, d) or describe_event(kind, d)
    if told is not None:
        return told
    if kind == EV_RAISED:
        if d.get("source") == SOURCE_CHECKER:
            return gettext("Incident raised (AI-checking system: %(checker)s).",
                           checker=d.get("checker"))
        return gettext("Incident raised (marker's own observation).")
    if kind == EV_EVIDENCE_ADDED:
        if d.get("filename"):
            return gettext("Evidence added: %(label)s (%(filename)s).", label=d.get("label", ""),
                           filename=d["filename"])
        return gettext("Evidence added: %(label)s.", label=d.get("label", ""))
    if kind == EV_CHECK_PLANNED:
        method = str(d.get("method", gettext("Check"))).capitalize()
        if d.get("planned_for"):
            return gettext("%(method)s planned for %(date)s.", method=method,
                           date=d["planned_for"])
        return gettext("%(method)s planned.", method=method)
    if kind == EV_CHECK_RECORDED:
        outcome = CHECK_OUTCOMES.get(d.get("outcome") or "", d.get("outcome") or "")
        return gettext("%(method)s done on %(date)s by %(who)s: %(outcome)s.",
                       method=str(d.get("method", gettext("Check"))).capitalize(),
                       date=d.get("done_on"), who=d.get("conducted_by"), outcome=outcome)
    if kind == EV_LEARNER_ASKED:
        if not d.get("emailed"):
            return gettext("Learner asked in the tool (Moodle has no usable email address for "
                           "them).")
        if d.get("link_expires_at"):
            return gettext("Learner emailed and asked how this could have occurred (link valid "
                           "until %(date)s).", date=str(d["link_expires_at"])[:10])
        return gettext("Learner emailed and asked how this could have occurred.")
    if kind == EV_REMINDER_SENT:
        return (gettext("Reminder emailed to the learner.") if d.get("emailed")
                else gettext("Reminder due (no email address)."))
    if kind == EV_ANSWERED:
        return (gettext("Learner answered through the emailed link.") if d.get("via") == "link"
                else gettext("Learner answered in Moodle."))
    if kind == EV_DECIDED:
        if d.get("outcome") == UPHELD:
            action = d.get("action_label") or outcome_label(rules, d.get("action"))
            return gettext("Decision: upheld, Stage %(stage)s (%(action)s).",
                           stage=d.get("stage"), action=action)
        on_appeal = bool(d.get("replaces_on_appeal"))
        if d.get("outcome") == POOR_PRACTICE:
            return (gettext("Decision: poor academic practice (replacing the decision, on "
                            "appeal).") if on_appeal
                    else gettext("Decision: poor academic practice."))
        return (gettext("Decision: not upheld (replacing the decision, on appeal).")
                if on_appeal else gettext("Decision: not upheld."))
    if kind == EV_DECLINED_TO_ANSWER:
        return gettext("The learner said they will not answer.")
    if kind == EV_ANSWER_FILE_ADDED:
        if d.get("purpose") == "appeal":
            return gettext("The learner attached %(filename)s to their appeal.",
                           filename=d.get("filename"))
        return gettext("The learner attached %(filename)s to their answer.",
                       filename=d.get("filename"))
    if kind == EV_APPEALED:
        return gettext("The learner appealed the decision.")
    if kind == EV_APPEAL_DECIDED:
        if d.get("result") == "upheld":
            return gettext("Appeal upheld: %(reasons)s", reasons=d.get("reasons", ""))
        return gettext("Appeal dismissed: %(reasons)s", reasons=d.get("reasons", ""))
    if kind == EV_STAGE_RECOMPUTED:
        return gettext("Stage worked out again after case %(case)s stopped counting: Stage "
                       "%(before)s is now Stage %(after)s.", case=d.get("because_of"),
                       before=d.get("from_stage"), after=d.get("to_stage"))
    if kind == EV_DECISION_WITHDRAWN:
        return gettext("Decision withdrawn: %(reason)s", reason=d.get("reason", ""))
    if kind == EV_FOLLOW_UP_RECORDED:
        outcome = rules.outcome(str(d.get("action") or ""))
        results = {r.key: r.label for r in outcome.follow_up} if outcome else {}
        label = d.get("result_label") or results.get(d.get("result") or "", d.get("result"))
        return gettext("Follow-up recorded (%(date)s): %(result)s. %(notes)s",
                       date=d.get("done_on"), result=label, notes=d.get("notes", ""))
    if kind == EV_NOTE_ADDED:
        if d.get("corrects"):
            return gettext("Correction to step %(step)s: %(text)s", step=d["corrects"],
                           text=d.get("text", ""))
        return gettext("Note: %(text)s", text=d.get("text", ""))
    return kind.replace("_", " ").capitalize()


def add_note(incident: Incident, actor: Person, text: str, *, corrects: int | None = None,
             at: datetime | None = None) -> IncidentEvent:
    """A note on the incident; with ``corrects`` (an event's number) it corrects that step.
    Nothing earlier is changed."""
    check_may_act(actor, incident, NOTE)
    text = text.strip()
    if not text:
        raise IncidentError("text", gettext("Enter the note."))
    lock_incident(incident)
    if corrects is not None and not 1 <= corrects <= incident.last_seq:
        raise IncidentError("corrects", gettext("Choose a step of this incident."))
    return append_event(incident, EV_NOTE_ADDED, actor, {"text": text, "corrects": corrects}, at)
