"""Reminders to declare, sent by staff from the course dashboard to the learners it shows
who have not declared under the current policy: through the outbox, at most one a day per
learner, however many staff click (a unique row per learner and day)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from lti_tool.audit import service as audit
from lti_tool.dbtypes import utcnow
from lti_tool.declarations.models import DeclarationReminder
from lti_tool.extensions import db
from lti_tool.notifications.addresses import usable_address
from lti_tool.notifications.service import link_to, send_email, tool_path
from lti_tool.people.models import Person, Placement


@dataclass(frozen=True)
class ReminderResult:
    sent: int  # emails queued
    already: int  # reminded earlier today (by anyone)
    no_email: int  # Moodle shares no usable address for them


def remind(placement: Placement, sender: Person, learners: list[Person],
           title: str) -> ReminderResult:
    """Email each of ``learners`` (people who have not declared for ``placement``) a
    reminder with a link to the activity, unless they were reminded today (UTC). Audited
    once for the batch. Flushes, never commits."""
    today = utcnow().date()
    sent = already = no_email = 0
    reminded: list[int] = []
    for learner in learners:
        if not usable_address(learner.email):
            no_email += 1
            continue
        try:
            with db.session.begin_nested():
                db.session.add(DeclarationReminder(person_id=learner.id,
                                                   placement_id=placement.id,
                                                   sent_by_id=sender.id, sent_on=today))
        except IntegrityError:
            already += 1
            continue
        link = link_to(learner, tool_path("learner.placement", placement_id=placement.id),
                       placement)
        send_email(learner.email, f"Reminder: make your AI use declaration for {title}",
                   "declaration_reminder", platform_id=learner.platform_id, learner=learner,
                   title=title, course=placement.course, sender=sender, link=link)
        reminded.append(learner.id)
        sent += 1
    if reminded:
        audit.record(f"person:{sender.id}", "declaration.reminders_sent", "placement",
                     placement.id, {"person_ids": reminded})
    return ReminderResult(sent, already, no_email)
