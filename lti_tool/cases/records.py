"""Reading a case: its timeline in plain English, its state for staff, and notes (a note may
correct an earlier step; nothing earlier changes)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
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
        return "Waiting for the learner's answer"
    if incident.state == ANSWERED:
        return "Answered: decision needed"
    if incident.state == FOLLOW_UP:
        return f"Upheld at Stage {incident.stage}: follow-up to record"
    if incident.outcome == UPHELD:
        return f"Upheld at Stage {incident.stage}"
    if incident.outcome == POOR_PRACTICE:
        return "Poor academic practice (counts towards no stage)"
    return "Not upheld"


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
        source = (f"AI-checking system: {d.get('checker')}" if d.get("source") == SOURCE_CHECKER
                  else "marker's own observation")
        return f"Incident raised ({source})."
    if kind == EV_EVIDENCE_ADDED:
        name = f" ({d['filename']})" if d.get("filename") else ""
        return f"Evidence added: {d.get('label', '')}{name}."
    if kind == EV_CHECK_PLANNED:
        when = f" for {d['planned_for']}" if d.get("planned_for") else ""
        return f"{str(d.get('method', 'Check')).capitalize()} planned{when}."
    if kind == EV_CHECK_RECORDED:
        outcome = CHECK_OUTCOMES.get(d.get("outcome") or "", d.get("outcome") or "")
        return (f"{str(d.get('method', 'Check')).capitalize()} done on {d.get('done_on')} by "
                f"{d.get('conducted_by')}: {outcome}.")
    if kind == EV_LEARNER_ASKED:
        until = (f" (link valid until {str(d['link_expires_at'])[:10]})"
                 if d.get("link_expires_at") else "")
        return (f"Learner emailed and asked how this could have occurred{until}."
                if d.get("emailed")
                else "Learner asked in the tool (Moodle has no usable email address for them).")
    if kind == EV_REMINDER_SENT:
        return ("Reminder emailed to the learner." if d.get("emailed")
                else "Reminder due (no email address).")
    if kind == EV_ANSWERED:
        return "Learner answered " + ("through the emailed link." if d.get("via") == "link"
                                      else "in Moodle.")
    if kind == EV_DECIDED:
        if d.get("outcome") == UPHELD:
            action = d.get("action_label") or outcome_label(rules, d.get("action"))
            return f"Decision: upheld, Stage {d.get('stage')} ({action})."
        appeal = " (replacing the decision, on appeal)" if d.get("replaces_on_appeal") else ""
        if d.get("outcome") == POOR_PRACTICE:
            return f"Decision: poor academic practice{appeal}."
        return f"Decision: not upheld{appeal}."
    if kind == EV_DECLINED_TO_ANSWER:
        return "The learner said they will not answer."
    if kind == EV_ANSWER_FILE_ADDED:
        return (f"The learner attached {d.get('filename')} to their "
                f"{'appeal' if d.get('purpose') == 'appeal' else 'answer'}.")
    if kind == EV_APPEALED:
        return "The learner appealed the decision."
    if kind == EV_APPEAL_DECIDED:
        return f"Appeal {'upheld' if d.get('result') == 'upheld' else 'dismissed'}: " \
               f"{d.get('reasons', '')}"
    if kind == EV_STAGE_RECOMPUTED:
        return (f"Stage worked out again after case {d.get('because_of')} stopped counting: "
                f"Stage {d.get('from_stage')} is now Stage {d.get('to_stage')}.")
    if kind == EV_DECISION_WITHDRAWN:
        return f"Decision withdrawn: {d.get('reason', '')}"
    if kind == EV_FOLLOW_UP_RECORDED:
        outcome = rules.outcome(str(d.get("action") or ""))
        results = {r.key: r.label for r in outcome.follow_up} if outcome else {}
        label = d.get("result_label") or results.get(d.get("result") or "", d.get("result"))
        return f"Follow-up recorded ({d.get('done_on')}): {label}. {d.get('notes', '')}"
    if kind == EV_NOTE_ADDED:
        label = f"Correction to step {d['corrects']}" if d.get("corrects") else "Note"
        return f"{label}: {d.get('text', '')}"
    return kind.replace("_", " ").capitalize()


def add_note(incident: Incident, actor: Person, text: str, *, corrects: int | None = None,
             at: datetime | None = None) -> IncidentEvent:
    """A note on the incident; with ``corrects`` (an event's number) it corrects that step.
    Nothing earlier is changed."""
    check_may_act(actor, incident, NOTE)
    text = text.strip()
    if not text:
        raise IncidentError("text", "Enter the note.")
    lock_incident(incident)
    if corrects is not None and not 1 <= corrects <= incident.last_seq:
        raise IncidentError("corrects", "Choose a step of this incident.")
    return append_event(incident, EV_NOTE_ADDED, actor, {"text": text, "corrects": corrects}, at)
