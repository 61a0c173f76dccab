"""Checks the learner takes part in: when and where (a date, a time, a place or a link),
what the check is about and how to prepare; rescheduling or cancelling with a reason; the
learner emailed at each change, with their right to bring a support person and to ask for
adjustments; and the learner's comments on the record once it is written.

Every change is a new event (``check_scheduled``, ``check_rescheduled``,
``check_cancelled``, ``check_commented``); the check's row holds the current plan as a
projection of them, updated in the same transaction. Earlier events are never changed, so
the history shows every date the learner was given and why it moved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask_babel import gettext, lazy_gettext

from lti_tool.cases.access import PLAN_CHECK, check_may_act
from lti_tool.cases.errors import IncidentConflict, IncidentError, LinkRefused
from lti_tool.cases.events import append_event, lock_incident
from lti_tool.cases.letters import assignment_name, learner_email
from lti_tool.cases.models import (
    EV_CHECK_CANCELLED,
    EV_CHECK_COMMENTED,
    EV_CHECK_RESCHEDULED,
    EV_CHECK_SCHEDULED,
    AuthenticityCheck,
    Incident,
    IncidentEvent,
)
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.people.models import Person

if TYPE_CHECKING:  # records imports checks, which imports this module
    from lti_tool.cases.records import TimelineEntry

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

# The two parts of the record of a check the policy data names (``two_part_checks``; the
# ombudsman's point: not only what the learner knows, but how they produced the work).
RECORD_PARTS = {"subject_knowledge": lazy_gettext("Subject knowledge"),
                "production": lazy_gettext("How the learner produced the work")}

# What each change tells the learner (the email's subject and first line).
CHANGES = {
    EV_CHECK_SCHEDULED: "arranged",
    EV_CHECK_RESCHEDULED: "moved",
    EV_CHECK_CANCELLED: "cancelled",
    "recorded": "recorded",
}
# The email's subject for each change.
SUBJECTS = {
    EV_CHECK_SCHEDULED: lazy_gettext("Your %(method)s about %(assignment)s: arranged"),
    EV_CHECK_RESCHEDULED: lazy_gettext("Your %(method)s about %(assignment)s: moved"),
    EV_CHECK_CANCELLED: lazy_gettext("Your %(method)s about %(assignment)s: cancelled"),
    "recorded": lazy_gettext("Your %(method)s about %(assignment)s: recorded"),
}


@dataclass(frozen=True)
class Schedule:
    """When and where a check happens, and what the learner should know beforehand."""

    planned_for: date
    planned_time: str = ""  # "HH:MM" (UTC is not assumed: the centre's local time)
    location: str = ""  # a room, an address or a video-call link
    about: str = ""
    preparation: str = ""

    def as_data(self) -> dict[str, Any]:
        return {"planned_for": self.planned_for.isoformat(), "planned_time": self.planned_time,
                "location": self.location, "about": self.about,
                "preparation": self.preparation}


def clean_schedule(schedule: Schedule) -> Schedule:
    """The schedule with its text tidied, or :class:`IncidentError` naming the field. (A
    date in the past is allowed: a check already held can be planned, then recorded.)"""
    time = schedule.planned_time.strip()
    if time and not _TIME.match(time):
        raise IncidentError("planned_time", gettext("Enter the time as hours and minutes, for "
                                                    "example 14:30."))
    location = " ".join(schedule.location.split())
    if len(location) > 500:
        raise IncidentError("location", gettext("The place or link must be 500 characters or "
                                                "fewer."))
    for name, text in (("about", schedule.about), ("preparation", schedule.preparation)):
        if len(text) > 5000:
            raise IncidentError(name, gettext("This must be 5,000 characters or fewer."))
    return Schedule(schedule.planned_for, time, location, schedule.about.strip(),
                    schedule.preparation.strip())


def apply_schedule(check: AuthenticityCheck, schedule: Schedule) -> None:
    """Put the plan on the check's row (the projection of the latest schedule event)."""
    check.planned_for = schedule.planned_for
    check.planned_time = schedule.planned_time or None
    check.location = schedule.location
    check.about = schedule.about
    check.preparation = schedule.preparation


def current_schedule(check: AuthenticityCheck) -> dict[str, Any]:
    return {"planned_for": check.planned_for.isoformat() if check.planned_for else None,
            "planned_time": check.planned_time or "", "location": check.location or ""}


def schedule_check(incident: Incident, check: AuthenticityCheck, actor: Person,
                   schedule: Schedule, at: datetime) -> None:
    """Give an undated check (planned when the case was raised) its date: the same check,
    never a second copy of it. The incident must be locked."""
    apply_schedule(check, schedule)
    append_event(incident, EV_CHECK_SCHEDULED, actor, {
        "check_id": check.id, "method": check.method, **schedule.as_data()}, at)
    tell_learner(incident, check, EV_CHECK_SCHEDULED)


def _written(field: str, text: str, missing: str, too_long: str, limit: int = 5000) -> str:
    """``text`` stripped, or :class:`IncidentError` when it is empty or too long."""
    text = text.strip()
    if not text:
        raise IncidentError(field, missing)
    if len(text) > limit:
        raise IncidentError(field, too_long)
    return text


def _open_check(check: AuthenticityCheck, actor: Person, reason: str) -> tuple[Incident, str]:
    incident = db.session.get(Incident, check.incident_id)
    assert incident is not None
    check_may_act(actor, incident, PLAN_CHECK)
    reason = _written("reason", reason, gettext("Give the reason for the change: the learner is "
                                                "told."),
                      gettext("The reason must be 5,000 characters or fewer."))
    lock_incident(incident)
    db.session.refresh(check)
    if check.done:
        raise IncidentConflict("check_recorded", gettext("This check has already been recorded, so "
                                                         "it can no longer be moved or cancelled."))
    if check.cancelled_at is not None:
        raise IncidentConflict("check_cancelled", gettext("This check has already been cancelled."))
    return incident, reason


def reschedule(check: AuthenticityCheck, actor: Person, schedule: Schedule, reason: str,
               at: datetime | None = None) -> AuthenticityCheck:
    """Move a planned check to a new date, time or place, with the reason; the learner is
    emailed."""
    schedule = clean_schedule(schedule)
    incident, reason = _open_check(check, actor, reason)
    at = at or utcnow()
    before = current_schedule(check)
    apply_schedule(check, Schedule(schedule.planned_for, schedule.planned_time,
                                   schedule.location, schedule.about or check.about,
                                   schedule.preparation or check.preparation))
    append_event(incident, EV_CHECK_RESCHEDULED, actor, {
        "check_id": check.id, "method": check.method, "reason": reason, "from": before,
        **current_schedule(check)}, at)
    tell_learner(incident, check, EV_CHECK_RESCHEDULED, reason)
    return check


def cancel(check: AuthenticityCheck, actor: Person, reason: str,
           at: datetime | None = None) -> AuthenticityCheck:
    """Cancel a planned check, with the reason; the learner is emailed."""
    incident, reason = _open_check(check, actor, reason)
    at = at or utcnow()
    check.cancelled_at = at
    append_event(incident, EV_CHECK_CANCELLED, actor, {
        "check_id": check.id, "method": check.method, "reason": reason,
        **current_schedule(check)}, at)
    tell_learner(incident, check, EV_CHECK_CANCELLED, reason)
    return check


def tell_learner(incident: Incident, check: AuthenticityCheck, change: str,
                 reason: str = "") -> None:
    """Email the learner about a change to a check they take part in (nothing when Moodle
    shared no usable address: they see it in the tool)."""
    from lti_tool.notifications.service import send_email

    to = learner_email(incident)
    if not to:
        return
    assignment = assignment_name(incident.placement)
    word = CHANGES[change]
    send_email(to, SUBJECTS[change] % {"method": check.method, "assignment": assignment},
               "check_changed",
               learner=incident.learner, assignment=assignment, course=incident.course,
               check=check, change=word, reason=reason)


def record_parts(check: AuthenticityCheck) -> list[tuple[str, str]]:
    """The parts of the check's record, labelled (the two parts, where it has them)."""
    return [(label, getattr(check, name)) for name, label in RECORD_PARTS.items()
            if getattr(check, name, "")]


def comment(check: AuthenticityCheck, learner: Person, text: str,
            at: datetime | None = None) -> IncidentEvent:
    """The learner's comment on the record of a check about them (once it is recorded;
    as many comments as they like, each kept)."""
    incident = db.session.get(Incident, check.incident_id)
    assert incident is not None
    if incident.learner_id != learner.id:
        raise LinkRefused("not_your_check", gettext("This check is about someone "
                                                    "else."), status=403)
    text = _written("comment", text, gettext("Write your comment."),
                    gettext("Your comment must be 5,000 characters or fewer."))
    lock_incident(incident)
    db.session.refresh(check)
    if not check.done:
        raise IncidentConflict("check_not_recorded", gettext("You can comment once the record of "
                                                             "the check has been written."))
    at = at or utcnow()
    return append_event(incident, EV_CHECK_COMMENTED, learner, {
        "check_id": check.id, "method": check.method, "text": text}, at)


def history(check: AuthenticityCheck) -> list[TimelineEntry]:
    """Every event of the check (planned, scheduled, moved, cancelled, recorded,
    commented), in order."""
    from lti_tool.cases.records import timeline

    incident = db.session.get(Incident, check.incident_id)
    assert incident is not None
    return [e for e in timeline(incident) if e.data.get("check_id") == check.id]


def comments(check: AuthenticityCheck) -> list[TimelineEntry]:
    return [e for e in history(check) if e.kind == EV_CHECK_COMMENTED]


def _when(data: dict[str, Any]) -> str:
    day = data.get("planned_for")
    if not day:
        return gettext("no date")
    text = date.fromisoformat(str(day)).strftime("%d %B %Y").lstrip("0")
    if data.get("planned_time"):
        text = gettext("%(date)s at %(time)s", date=text, time=data["planned_time"])
    if data.get("location"):
        text += f", {data['location']}"
    return text


def describe_change(kind: str, data: dict[str, Any]) -> str | None:
    """A change to a check in plain English (None if ``kind`` is not one)."""
    name = str(data.get("method", gettext("Check"))).capitalize()
    if kind == EV_CHECK_SCHEDULED:
        return gettext("%(name)s arranged for %(when)s; the learner was emailed.", name=name,
                       when=_when(data))
    if kind == EV_CHECK_RESCHEDULED:
        return gettext("%(name)s moved from %(before)s to %(when)s: %(reason)s", name=name,
                       before=_when(data.get("from") or {}), when=_when(data),
                       reason=data.get("reason", ""))
    if kind == EV_CHECK_CANCELLED:
        return gettext("%(name)s cancelled: %(reason)s", name=name,
                       reason=data.get("reason", ""))
    if kind == EV_CHECK_COMMENTED:
        return gettext("The learner commented on the record of the %(method)s: %(text)s",
                       method=data.get("method"), text=data.get("text", ""))
    return None


def learner_checks(person: Person) -> list[tuple[AuthenticityCheck, Incident]]:
    """The checks in the learner's cases that are planned or recorded (not cancelled), with
    their case, soonest first (for the learner's own pages; one query)."""
    rows = db.session.execute(
        sa.select(AuthenticityCheck, Incident)
        .join(Incident, Incident.id == AuthenticityCheck.incident_id)
        .where(Incident.learner_id == person.id, AuthenticityCheck.cancelled_at.is_(None))
        .order_by(AuthenticityCheck.planned_for.is_(None), AuthenticityCheck.planned_for,
                  AuthenticityCheck.id)).all()
    return [(check, incident) for check, incident in rows]
