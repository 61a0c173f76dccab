"""How long each step of a case took against the policy data's targets
(``case_process.step_targets_days``, working days): the learner told, their answer, the
decision, the report to the awarding body and the appeal's decision. Overdue cases are
flagged on the course dashboard, the ALS and appeals queues and the administration page.

A clock reads the case's projection (and its events, when given, for the detail page), so a
list of cases is checked without replaying their histories.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext, lazy_gettext, ngettext
from sqlalchemy.orm import selectinload

from lti_tool.cases.models import (
    CLOSED,
    EV_APPEAL_DECIDED,
    EV_APPEALED,
    EV_DECIDED,
    EV_FOLLOW_UP_RECORDED,
    EV_LEARNER_ASKED,
    EV_SUSPICION_REPORTED,
    EV_SUSPICION_TO_REPORT,
    OPEN_STATES,
    UPHELD,
    Appeal,
    Incident,
)
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.policy.calendar import add_working_days, working_days_between
from lti_tool.policy.service import Policy

STEP_LABELS = {
    "learner_notified": lazy_gettext("The learner told of the case"),
    "answer_due": lazy_gettext("The learner's answer"),
    "decision": lazy_gettext("The decision"),
    "report": lazy_gettext("The report to the awarding body"),
    "appeal_decided": lazy_gettext("The appeal's decision"),
}

MET = "met"
LATE = "late"
RUNNING = "running"
OVERDUE = "overdue"
NOT_NEEDED = "not_needed"
STATE_LABELS = {MET: lazy_gettext("On time"), LATE: lazy_gettext("Late"),
                RUNNING: lazy_gettext("In progress"), OVERDUE: lazy_gettext("Overdue"),
                NOT_NEEDED: lazy_gettext("Not needed")}


@dataclass(frozen=True)
class Clock:
    """One step: when its clock started, when it is due, when it was done (if it was)."""

    step: str
    target_days: int
    started_at: datetime
    due_at: datetime
    done_at: datetime | None
    state: str
    now: datetime
    note: str = ""

    @property
    def label(self) -> str:
        return str(STEP_LABELS[self.step])

    @property
    def state_label(self) -> str:
        return str(STATE_LABELS[self.state])

    @property
    def overdue(self) -> bool:
        return self.state == OVERDUE

    @property
    def taken(self) -> str:
        """The time taken (or so far), in words."""
        if self.state == NOT_NEEDED:
            return self.note or gettext("Not needed")
        days = working_days_between(self.started_at, self.done_at or self.now)
        if self.done_at is None:
            return ngettext("%(num)s working day so far", "%(num)s working days so far", days)
        return ngettext("%(num)s working day", "%(num)s working days", days)

    @property
    def summary(self) -> str:
        """The step against its target, in one sentence."""
        target = ngettext("target %(num)s working day", "target %(num)s working days",
                          self.target_days)
        if self.state == NOT_NEEDED:
            return gettext("%(taken)s (%(target)s)", taken=self.taken, target=target)
        due = gettext("due %(date)s UTC", date=f"{self.due_at:%d %B %Y %H:%M}")
        if self.state == OVERDUE:
            late = working_days_between(self.due_at, self.now)
            if late:
                return ngettext("Overdue by %(num)s working day: %(due)s (%(target)s); "
                                "%(taken)s",
                                "Overdue by %(num)s working days: %(due)s (%(target)s); "
                                "%(taken)s", late, due=due, target=target, taken=self.taken)
            return gettext("Overdue: %(due)s (%(target)s); %(taken)s", due=due, target=target,
                           taken=self.taken)
        if self.state == RUNNING:
            return gettext("In progress: %(due)s (%(target)s); %(taken)s", due=due,
                           target=target, taken=self.taken)
        if self.state == MET:
            return gettext("On time: took %(taken)s (%(target)s; was %(due)s)",
                           taken=self.taken, target=target, due=due)
        return gettext("Late: took %(taken)s (%(target)s; was %(due)s)", taken=self.taken,
                       target=target, due=due)


def _clock(step: str, targets: dict[str, int], started: datetime, done: datetime | None,
           now: datetime, *, needed: bool = True, note: str = "",
           due: datetime | None = None) -> Clock:
    due = due or add_working_days(started, targets[step])
    if not needed:
        state = NOT_NEEDED
    elif done is not None:
        state = MET if done <= due else LATE
    else:
        state = OVERDUE if now > due else RUNNING
    return Clock(step, targets[step], started, due, done, state, now, note)


def _first(events: Sequence[object] | None, kind: str, **match: object) -> datetime | None:
    for entry in events or ():
        if getattr(entry, "kind", None) == kind and all(
                getattr(entry, "data", {}).get(k) == v for k, v in match.items()):
            return getattr(entry, "at", None)
    return None


def reportable(incident: Incident, policy: Policy) -> bool:
    """Whether the case, upheld, reached the stage at which the awarding body of its course
    is told (the policy's ``awarding_bodies[].reporting``)."""
    if (incident.outcome != UPHELD or incident.stage is None
            or incident.stage < policy.rules.first_reported_stage):
        return False  # no awarding body is told at this stage (and no query to know it)
    body = None
    if incident.placement is not None:
        from lti_tool.declarations.service import effective_settings

        body = effective_settings(incident.placement).qualification
    return policy.rules.reported(body, incident.stage)


def reported_on_suspicion(incident: Incident, policy: Policy) -> bool:
    """Whether raising the case must be reported to the awarding body of its course at once
    (``reporting.when: on_suspicion``), unless the body allows the centre to deal with
    work the learner has not yet authenticated as their own and it is not."""
    from lti_tool.declarations.service import effective_settings

    body = policy.rules.awarding_body(effective_settings(incident.placement).qualification)
    if body is None or not body.reports_on_suspicion:
        return False
    if not body.reporting.unless_before_authentication:
        return True
    from lti_tool.declarations.authentication import authentication_of
    from lti_tool.declarations.service import history

    declared = history(incident.learner_id, incident.placement_id)
    return bool(declared) and authentication_of(declared[0]) is not None


def suspicion_clock(incident: Incident, policy: Policy, told: datetime,
                    now: datetime | None = None) -> Clock:
    return _clock("report", policy.clock_targets, told, None, now or utcnow())


def case_clocks(incident: Incident, policy: Policy, *, now: datetime | None = None,
                events: Sequence[object] | None = None,
                appeals: Mapping[int, Appeal] | None = None) -> list[Clock]:
    """The clocks of the steps the case has reached, in order. ``events`` (the case's
    timeline) makes the times exact; without them the case's projection is used (the
    learner is asked in the same transaction as the case is raised)."""
    now = now or utcnow()
    targets = policy.clock_targets
    clocks: list[Clock] = []
    notified = _first(events, EV_LEARNER_ASKED) or incident.raised_at
    clocks.append(_clock("learner_notified", targets, incident.raised_at, notified, now))
    decided = _first(events, EV_DECIDED) or incident.decided_at
    # The learner's deadline as the case holds it (the question email named it).
    deadline = incident.answer_due_at
    answer = _clock("answer_due", targets, notified, incident.answered_at, now, due=deadline)
    if incident.answered_at is None and decided is not None:
        answer = _clock("answer_due", targets, notified, None, now, needed=False,
                        note=gettext("Decided without the learner's answer"), due=deadline)
    clocks.append(answer)
    decision_from = incident.answered_at or answer.due_at
    if decided is not None and decided < decision_from:
        decision_from = decided
    if incident.answered_at is not None or decided is not None or now > answer.due_at:
        clocks.append(_clock("decision", targets, decision_from, decided, now))
    suspected = _first(events, EV_SUSPICION_TO_REPORT)
    if suspected is not None:
        clocks.append(_clock("report", targets, suspected,
                             _first(events, EV_SUSPICION_REPORTED), now))
    elif reportable(incident, policy) and incident.decided_at is not None:
        # The report outcome's follow-up is the report.
        reported = (_first(events, EV_FOLLOW_UP_RECORDED)
                    if events is not None else
                    incident.closed_at if incident.state == CLOSED else None)
        clocks.append(_clock("report", targets, incident.decided_at,
                             reported, now))
    clocks += _appeal_clocks(incident, targets, now, events, appeals)
    return clocks


def _appeal_clocks(incident: Incident, targets: dict[str, int], now: datetime,
                   events: Sequence[object] | None,
                   appeals: Mapping[int, Appeal] | None) -> list[Clock]:
    if events is not None:
        lodged = _first(events, EV_APPEALED)
        decided = _first(events, EV_APPEAL_DECIDED)
    else:  # ``appeals``: a list's appeals, read at once; only decided cases have one
        appeal = (appeals.get(incident.id) if appeals is not None else
                  db.session.scalar(sa.select(Appeal).where(Appeal.incident_id == incident.id))
                  if incident.id is not None and incident.decided_at is not None else None)
        lodged, decided = (appeal.submitted_at, appeal.reviewed_at) if appeal else (None, None)
    if lodged is None:
        return []
    return [_clock("appeal_decided", targets, lodged, decided, now)]


def appeal_clock(appeal: Appeal, policy: Policy, now: datetime | None = None) -> Clock:
    """The appeal's clock: from the learner's appeal to the reviewer's decision."""
    return _clock("appeal_decided", policy.clock_targets, appeal.submitted_at,
                  appeal.reviewed_at, now or utcnow())


def is_overdue(incident: Incident, policy: Policy, now: datetime | None = None) -> bool:
    return any(c.overdue for c in case_clocks(incident, policy, now=now))


@dataclass(frozen=True)
class OverdueCase:
    incident: Incident
    clocks: list[Clock]

    @property
    def overdue_steps(self) -> list[Clock]:
        return [c for c in self.clocks if c.overdue]


def overdue_cases(policy: Policy, *, platform_id: int | None = None,
                  course_ids: Iterable[int] | None = None,
                  learner_ids: Iterable[int] | None = None, now: datetime | None = None,
                  limit: int = 500, related: bool = True) -> list[OverdueCase]:
    """Open cases (upheld ones still to report among them) with a step past its target,
    oldest first: on a platform, in some courses or for some learners. One query, one for
    their appeals, and one each for their learners, courses and placements unless
    ``related`` is false."""
    stmt = (sa.select(Incident).where(Incident.state.in_(OPEN_STATES))
            .order_by(Incident.raised_at, Incident.id).limit(limit))
    if related:
        stmt = stmt.options(selectinload(Incident.learner), selectinload(Incident.course),
                            selectinload(Incident.placement))
    if platform_id is not None:
        stmt = stmt.where(Incident.platform_id == platform_id)
    if course_ids is not None:
        stmt = stmt.where(Incident.course_id.in_(list(course_ids)))
    if learner_ids is not None:
        stmt = stmt.where(Incident.learner_id.in_(list(learner_ids)))
    now = now or utcnow()
    found = []
    cases = list(db.session.scalars(stmt))
    decided = [c.id for c in cases if c.decided_at is not None]
    appeals = {a.incident_id: a for a in db.session.scalars(
        sa.select(Appeal).where(Appeal.incident_id.in_(decided)))} if decided else {}
    for incident in cases:
        clocks = case_clocks(incident, policy, now=now, appeals=appeals)
        if any(c.overdue for c in clocks):
            found.append(OverdueCase(incident, clocks))
    return found
