"""AI-tool requests: learners ask, the ALS team decides, learners are told.

State changes are conditional updates on the request's ``version`` (the version the actor
saw on their page): if anyone else changed the request in between, :class:`RequestChanged`
is raised and nothing is written, so two ALS members deciding at once cannot both succeed.
Decisions and answers are new rows, never updates. Every change is audited; functions
flush, the request commits.

Other domains call :func:`active_authorisations` (what a learner may use, where, now or at
a given time) and render ``requests/_authorisations.html`` with its result.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from flask import g
from flask_babel import gettext, lazy_gettext, ngettext
from sqlalchemy.orm import selectinload

from lti_tool.audit import service as audit
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.notifications.service import link_to, notify_als, send_email, tool_path
from lti_tool.people import service as people
from lti_tool.people.models import Course, CourseRole, Person, Placement
from lti_tool.requests.models import (
    APPROVED,
    ASSIGNMENT,
    COURSE,
    DECLINED,
    MORE_INFO,
    OPEN_STATES,
    OUTCOMES,
    PENDING,
    QUALIFICATION,
    REASONS,
    REVOKED,
    SCOPE_LABELS,
    SCOPES,
    STATES,
    WITHDRAWN,
    AiToolRequest,
    RequestDecision,
    RequestReply,
)

# Which decisions each state allows (a change of mind is a new decision).
ALLOWED_OUTCOMES: dict[str, tuple[str, ...]] = {
    PENDING: (APPROVED, DECLINED, MORE_INFO),
    MORE_INFO: (APPROVED, DECLINED),
    APPROVED: (APPROVED, REVOKED),
    DECLINED: (APPROVED, MORE_INFO),
    REVOKED: (APPROVED,),
    WITHDRAWN: (),
}


class RequestChanged(Exception):
    """The request changed since the actor saw it (someone else decided, the learner
    answered or withdrew): nothing was written; show them where it stands now."""


class InvalidAction(ValueError):
    """An action the request's state or the actor does not allow, or incomplete data; the
    message is plain English."""


@dataclass(frozen=True)
class NewRequest:
    """What the learner's form collects."""

    tool_name: str
    purpose: str
    reason: str
    scope: str
    reason_detail: str = ""
    supporting_detail: str = ""


# -- learners --------------------------------------------------------------------------------

def create_request(person: Person, placement: Placement, data: NewRequest) -> AiToolRequest:
    """Record a learner's request made from ``placement`` (its course is the request's
    course; the scope says how far it should reach)."""
    if data.scope not in SCOPES or data.reason not in REASONS:
        raise InvalidAction(gettext("Choose a scope and a reason from the list."))
    if not data.tool_name.strip() or not data.purpose.strip():
        raise InvalidAction(gettext("Name the AI tool and say what you want to use it for."))
    now = utcnow()
    row = AiToolRequest(
        platform_id=person.platform_id, person_id=person.id, course_id=placement.course_id,
        placement_id=placement.id, tool_name=data.tool_name.strip(),
        purpose=data.purpose.strip(), reason=data.reason,
        reason_detail=data.reason_detail.strip(), scope=data.scope,
        supporting_detail=data.supporting_detail.strip(), status=PENDING, version=1,
        created_at=now, updated_at=now,
    )
    db.session.add(row)
    db.session.flush()
    audit.record(f"person:{person.id}", "ai_request.created", "ai_tool_request", row.id,
                 {"placement_id": placement.id, "scope": data.scope, "reason": data.reason})
    tool = _short(row.tool_name)
    _tell_als(row, "als_new_request", gettext(
        "New request: %(learner)s asks to use %(tool)s", learner=person.display_name,
        tool=tool), gettext("%(learner)s (%(course)s) asks to use %(tool)s",
                            learner=row.person.display_name, course=row.course.display_name,
                            tool=tool))
    return row


def _tell_als(req: AiToolRequest, template: str, subject: str, line: str) -> None:
    """Tell the platform's ALS members (each as they chose: now, or in the daily digest)."""
    learner, course = req.person, req.course
    notify_als(req.platform_id, about=learner, subject=subject, template=template,
               path=tool_path("als.request_page", request_id=req.id),
               line=line, req=req, learner=learner, course=course)


def answer(req: AiToolRequest, person: Person, *, version: int, text: str) -> RequestReply:
    """The learner answers the ALS team's open question; the request returns to the queue."""
    if req.person_id != person.id:
        raise InvalidAction(gettext("Only the learner who made the request can answer."))
    if not text.strip():
        raise InvalidAction(gettext("Write your answer."))
    question = req.open_question
    if question is None or req.version != version:
        raise RequestChanged()
    _transition(req, version, (MORE_INFO,), PENDING)
    reply = RequestReply(request_id=req.id, decision_id=question.id, person_id=person.id,
                         text=text.strip(), created_at=utcnow())
    db.session.add(reply)
    db.session.flush()
    audit.record(f"person:{person.id}", "ai_request.answered", "ai_tool_request", req.id,
                 {"reply_id": reply.id, "decision_id": question.id, "version": version})
    db.session.refresh(req)
    tool = _short(req.tool_name)
    _tell_als(req, "als_request_answered", gettext(
        "%(learner)s answered your question about %(tool)s", learner=person.display_name,
        tool=tool), gettext("%(learner)s (%(course)s) answered the ALS team's question about "
                            "%(tool)s", learner=req.person.display_name,
                            course=req.course.display_name, tool=tool))
    return reply


def withdraw(req: AiToolRequest, person: Person, *, version: int) -> None:
    """The learner withdraws a request that is still open."""
    if req.person_id != person.id:
        raise InvalidAction(gettext("Only the learner who made the request can withdraw it."))
    now = utcnow()
    _transition(req, version, OPEN_STATES, WITHDRAWN, withdrawn_at=now)
    audit.record(f"person:{person.id}", "ai_request.withdrawn", "ai_tool_request", req.id,
                 {"version": version})
    db.session.refresh(req)


# -- the ALS team ----------------------------------------------------------------------------

def allowed_outcomes(req: AiToolRequest) -> tuple[str, ...]:
    return ALLOWED_OUTCOMES.get(req.status, ())


def decide(req: AiToolRequest, decider: Person, *, version: int, outcome: str,
           conditions: str = "", scope: str | None = None, expires_on: date | None = None,
           reason: str = "", question: str = "") -> RequestDecision:
    """Record an ALS member's decision on the request as it was at ``version``.

    ``approved`` needs ``conditions``, ``scope`` and an ``expires_on`` after today (UTC);
    ``declined`` and ``revoked`` need ``reason``; ``more_info`` needs ``question``.
    The learner is told by email (if Moodle shared their address) and in the tool.
    Raises :class:`InvalidAction` for incomplete data or an outcome the state does not
    allow, :class:`RequestChanged` if the request changed since ``version``.
    """
    if outcome not in OUTCOMES:
        raise InvalidAction(gettext("Choose a decision."))
    if decider.id == req.person_id:
        raise InvalidAction(gettext("You cannot decide your own request; ask another ALS member."))
    if decider.platform_id != req.platform_id:
        raise InvalidAction(gettext("This request belongs to another platform."))
    values: dict[str, Any] = {}
    if outcome == APPROVED:
        if not conditions.strip():
            raise InvalidAction(gettext("Write the conditions of the authorisation."))
        if scope not in SCOPES:
            raise InvalidAction(gettext("Choose where the authorisation applies."))
        if scope == ASSIGNMENT and req.placement_id is None:
            raise InvalidAction(gettext("This request did not come from an assignment."))
        if expires_on is None or expires_on <= utcnow().date():
            raise InvalidAction(gettext("The expiry date must be in the future."))
        values = {"conditions": conditions.strip(), "scope": scope, "expires_on": expires_on}
    elif outcome in (DECLINED, REVOKED):
        if not reason.strip():
            raise InvalidAction(gettext("Give the reason for the decision."))
        values = {"reason": reason.strip()}
    elif outcome == MORE_INFO:
        if not question.strip():
            raise InvalidAction(gettext("Write the question for the learner."))
        values = {"question": question.strip()}
    if req.version != version:
        raise RequestChanged()
    if outcome not in allowed_outcomes(req):
        raise InvalidAction(gettext("That decision is not possible for a request in this state."))
    from_states = tuple(s for s, allowed in ALLOWED_OUTCOMES.items() if outcome in allowed)
    _transition(req, version, from_states, outcome)
    decision = RequestDecision(request_id=req.id, decided_by_id=decider.id, outcome=outcome,
                               request_version=version, created_at=utcnow(), **values)
    db.session.add(decision)
    db.session.flush()
    audit.record(f"person:{decider.id}", "ai_request.decided", "ai_tool_request", req.id,
                 {"decision_id": decision.id, "outcome": outcome, "version": version,
                  "scope": decision.scope,
                  "expires_on": expires_on.isoformat() if expires_on else None})
    db.session.refresh(req)
    _notify_learner(req, decision)
    return decision


_SUBJECTS = {
    APPROVED: lazy_gettext("Your request to use %(tool)s is approved"),
    DECLINED: lazy_gettext("Your request to use %(tool)s was declined"),
    MORE_INFO: lazy_gettext("The ALS team needs more information about your request to use "
                            "%(tool)s"),
    REVOKED: lazy_gettext("Your authorisation to use %(tool)s has been revoked"),
}


def _notify_learner(req: AiToolRequest, decision: RequestDecision) -> None:
    learner = req.person
    subject = str(_SUBJECTS[decision.outcome]) % {"tool": _short(req.tool_name)}
    link = link_to(learner, tool_path("requests.detail", request_id=req.id), req.placement)
    send_email(learner.email, subject, "request_decision", platform_id=req.platform_id,
               learner=learner, req=req, decision=decision, scope_labels=SCOPE_LABELS,
               link=link)


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _transition(req: AiToolRequest, version: int, from_states: tuple[str, ...], to_state: str,
                **values: Any) -> None:
    """Move the request to ``to_state`` only if it is still at ``version`` in one of
    ``from_states`` (one conditional UPDATE: on PostgreSQL a concurrent one waits for the
    row lock and then finds the version changed; SQLite serialises writers)."""
    result = db.session.execute(
        sa.update(AiToolRequest)
        .where(AiToolRequest.id == req.id, AiToolRequest.version == version,
               AiToolRequest.status.in_(from_states))
        .values(status=to_state, version=AiToolRequest.version + 1, updated_at=utcnow(),
                **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise RequestChanged()


# -- reading ---------------------------------------------------------------------------------

def _with_history() -> Any:
    return (selectinload(AiToolRequest.decisions).selectinload(RequestDecision.decided_by),
            selectinload(AiToolRequest.replies), selectinload(AiToolRequest.person),
            selectinload(AiToolRequest.course), selectinload(AiToolRequest.placement))


def get_request(request_id: int) -> AiToolRequest | None:
    return db.session.scalar(sa.select(AiToolRequest).where(AiToolRequest.id == request_id)
                             .options(*_with_history()))


def requests_of(person_id: int) -> list[AiToolRequest]:
    """A learner's requests, newest first."""
    return list(db.session.scalars(
        sa.select(AiToolRequest).where(AiToolRequest.person_id == person_id)
        .options(*_with_history())
        .order_by(AiToolRequest.created_at.desc(), AiToolRequest.id.desc())))


QUEUE_FILTERS = {
    "open": OPEN_STATES,
    "all": STATES,
    **{state: (state,) for state in STATES},
}


def queue(platform_id: int, *, status: str = "open", course_id: int | None = None,
          person_id: int | None = None) -> list[AiToolRequest]:
    """Requests on the platform, oldest first. ``status`` is a state, ``open`` (waiting
    for the ALS team or the learner) or ``all``."""
    stmt = (sa.select(AiToolRequest)
            .where(AiToolRequest.platform_id == platform_id,
                   AiToolRequest.status.in_(QUEUE_FILTERS.get(status, OPEN_STATES)))
            .options(*_with_history())
            .order_by(AiToolRequest.created_at, AiToolRequest.id))
    if course_id is not None:
        stmt = stmt.where(AiToolRequest.course_id == course_id)
    if person_id is not None:
        stmt = stmt.where(AiToolRequest.person_id == person_id)
    return list(db.session.scalars(stmt))


def waiting_count(platform_id: int) -> int:
    """Requests on the platform waiting for the ALS team (for the queue link)."""
    return int(db.session.scalar(
        sa.select(sa.func.count()).select_from(AiToolRequest)
        .where(AiToolRequest.platform_id == platform_id, AiToolRequest.status == PENDING))
        or 0)


def status_counts(platform_id: int) -> dict[str, int]:
    """Requests on the platform by state (for the queue's filter)."""
    return {state: int(n) for state, n in db.session.execute(
        sa.select(AiToolRequest.status, sa.func.count())
        .where(AiToolRequest.platform_id == platform_id)
        .group_by(AiToolRequest.status))}


def queue_choices(platform_id: int) -> tuple[list[Course], list[Person]]:
    """The courses and learners that have requests on the platform (for the filters)."""
    courses = db.session.scalars(
        sa.select(Course).where(Course.id.in_(
            sa.select(AiToolRequest.course_id).where(AiToolRequest.platform_id == platform_id)))
        .order_by(Course.title, Course.id))
    people = db.session.scalars(
        sa.select(Person).where(Person.id.in_(
            sa.select(AiToolRequest.person_id).where(AiToolRequest.platform_id == platform_id)))
        .order_by(Person.family_name, Person.given_name, Person.id))
    return list(courses), list(people)


def scope_in_force(req: AiToolRequest) -> str:
    """The scope of the latest approval, else what the learner asked for."""
    latest = req.latest_decision
    if latest is not None and latest.outcome == APPROVED and latest.scope:
        return latest.scope
    return req.scope


def _learner_in(person_id: int, course_id: int) -> bool:
    return bool(db.session.scalar(sa.select(sa.exists(
        people.course_learners(course_id).where(CourseRole.person_id == person_id)))))


def applies_to_course(req: AiToolRequest, course_id: int) -> bool:
    """Whether course staff of ``course_id`` may see the request: it was made there, or it
    reaches the whole qualification of a learner of that course."""
    if req.course_id == course_id:
        return True
    return scope_in_force(req) == QUALIFICATION and _learner_in(req.person_id, course_id)


def course_requests(course_id: int) -> list[AiToolRequest]:
    """Requests course staff of ``course_id`` may see, newest first."""
    learners = people.course_learners(course_id)
    candidates = db.session.scalars(
        sa.select(AiToolRequest)
        .where(sa.or_(AiToolRequest.course_id == course_id,
                      AiToolRequest.person_id.in_(learners)))
        .options(*_with_history())
        .order_by(AiToolRequest.created_at.desc(), AiToolRequest.id.desc()))
    return [r for r in candidates if applies_to_course(r, course_id)]


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # "submitted", "decision", "reply", "withdrawn"
    decision: RequestDecision | None = None
    reply: RequestReply | None = None


def timeline(req: AiToolRequest) -> list[TimelineEntry]:
    """What happened to the request, oldest first."""
    entries = [TimelineEntry(req.created_at, "submitted")]
    entries += [TimelineEntry(d.created_at, "decision", decision=d) for d in req.decisions]
    entries += [TimelineEntry(r.created_at, "reply", reply=r) for r in req.replies]
    if req.withdrawn_at is not None:
        entries.append(TimelineEntry(req.withdrawn_at, "withdrawn"))
    order = {"submitted": 0, "reply": 1, "decision": 2, "withdrawn": 3}
    return sorted(entries, key=lambda e: (e.at, order[e.kind]))


def describe_age(since: datetime, now: datetime | None = None) -> str:
    """'3 days', '5 hours', 'under an hour'."""
    seconds = ((now or utcnow()) - since).total_seconds()
    days = int(seconds // 86400)
    if days >= 1:
        return ngettext("%(num)d day", "%(num)d days", days)
    hours = int(seconds // 3600)
    if hours >= 1:
        return ngettext("%(num)d hour", "%(num)d hours", hours)
    return gettext("under an hour")


# -- authorisations --------------------------------------------------------------------------

@dataclass(frozen=True)
class Authorisation:
    """An approved, unexpired, unrevoked request: what the learner may use and where.

    ``expires_on`` is the last day (UTC) it holds. ``scope`` is ``assignment`` (only
    ``placement_id``), ``course`` (``course_id``) or ``qualification`` (every course of
    the learner on this Moodle site: the tool does not know which courses make up a
    qualification).
    """

    request_id: int
    decision_id: int
    person_id: int
    tool_name: str
    purpose: str
    conditions: str
    scope: str
    course_id: int
    course_title: str
    placement_id: int | None
    placement_title: str
    expires_on: date
    decided_at: datetime

    @property
    def scope_label(self) -> str:
        return str(SCOPE_LABELS.get(self.scope, self.scope))

    @property
    def applies_to(self) -> str:
        """Where it holds, in words."""
        if self.scope == ASSIGNMENT:
            return gettext("the assignment %(assignment)s (%(course)s)",
                           assignment=self.placement_title, course=self.course_title)
        if self.scope == COURSE:
            return gettext("the course %(course)s", course=self.course_title)
        return gettext("the whole qualification (asked for in %(course)s)",
                       course=self.course_title)


def active_authorisations(person_id: int, *, course_id: int | None = None,
                          placement_id: int | None = None,
                          at: datetime | None = None) -> list[Authorisation]:
    """The AI-tool authorisations the person holds at ``at`` (default now), by tool name.

    An authorisation is a request whose latest decision made at or before ``at`` is an
    approval whose expiry date is on or after ``at``'s date (UTC); revoked, declined,
    expired and later-decided ones are left out. With ``placement_id`` only those that
    apply to that assignment (its own, its course's and qualification-wide ones); with
    ``course_id`` those that apply anywhere in that course. ``at`` must be timezone-aware.
    """
    return active_authorisations_by_person([person_id], course_id=course_id,
                                           placement_id=placement_id, at=at).get(person_id, [])


def active_authorisations_for_page(person_id: int, placement_id: int) -> list[Authorisation]:
    """:func:`active_authorisations` now, for an assignment, computed once per request: a
    learner's page shows them twice (the declaration's choices and the requests panel).
    Only for pages that read; a view that changes a request uses the function above."""
    memo: dict[tuple[int, int], list[Authorisation]] = g.setdefault("authorisations_now", {})
    key = (person_id, placement_id)
    if key not in memo:
        memo[key] = active_authorisations(person_id, placement_id=placement_id)
    return memo[key]


def active_authorisations_by_person(person_ids: Collection[int], *,
                                    course_id: int | None = None,
                                    placement_id: int | None = None,
                                    at: datetime | None = None
                                    ) -> dict[int, list[Authorisation]]:
    """:func:`active_authorisations` for many people in one query (for staff lists)."""
    at = at or utcnow()
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    day = at.astimezone(UTC).date()
    rows = db.session.execute(
        sa.select(AiToolRequest, RequestDecision)
        .join(RequestDecision, RequestDecision.request_id == AiToolRequest.id)
        .where(AiToolRequest.person_id.in_(list(person_ids)),
               RequestDecision.created_at <= at)
        .options(selectinload(AiToolRequest.course), selectinload(AiToolRequest.placement))
        .order_by(RequestDecision.created_at, RequestDecision.id)).all()
    latest: dict[int, tuple[AiToolRequest, RequestDecision]] = {}
    for req, decision in rows:
        latest[req.id] = (req, decision)
    placement_course: int | None = None
    if placement_id is not None:
        placement = db.session.get(Placement, placement_id)
        placement_course = placement.course_id if placement is not None else None
    found: dict[int, list[Authorisation]] = {}
    for req, decision in latest.values():
        if decision.outcome != APPROVED or decision.expires_on is None \
                or decision.expires_on < day:
            continue
        scope = decision.scope or req.scope
        if placement_id is not None and not (
                scope == QUALIFICATION
                or (scope == COURSE and req.course_id == placement_course)
                or (scope == ASSIGNMENT and req.placement_id == placement_id)):
            continue
        if course_id is not None and scope != QUALIFICATION and req.course_id != course_id:
            continue
        found.setdefault(req.person_id, []).append(Authorisation(
            request_id=req.id, decision_id=decision.id, person_id=req.person_id,
            tool_name=req.tool_name, purpose=req.purpose, conditions=decision.conditions,
            scope=scope, course_id=req.course_id, course_title=req.course.display_name,
            placement_id=req.placement_id,
            placement_title=req.placement.display_name if req.placement else "",
            expires_on=decision.expires_on, decided_at=decision.created_at))
    return {person: sorted(items, key=lambda a: (a.tool_name.lower(), a.request_id))
            for person, items in found.items()}
