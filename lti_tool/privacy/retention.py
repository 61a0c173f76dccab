"""Applying the retention schedule: what is due, what a legal hold keeps, and disposal.

A record is *due* once its rule's period (:mod:`lti_tool.privacy.schedule`) has run from
the moment the rule names. A legal hold on the learner it is about keeps everything of
theirs: an open case, a pending appeal, a case reported to an awarding body within its
period, or an administrator's hold with a reason (:class:`LegalHold`). Disposal deletes the
rows (a person is anonymised, since others' records name them by id), removes evidence
files, blanks the personal part of the audit events about them (the hash chain is left as
it is, so ``flask audit verify`` still passes) and records each disposal by id.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from lti_tool.audit import service as audit
from lti_tool.cases import models as im
from lti_tool.cases import storage as evidence_store
from lti_tool.dbtypes import utcnow
from lti_tool.declarations.models import (
    Authentication,
    AwarenessEvent,
    ComprehensionAttempt,
    Declaration,
)
from lti_tool.extensions import db
from lti_tool.notifications.addresses import recipient_hash
from lti_tool.outbox.handlers import EMAIL
from lti_tool.outbox.models import DELIVERED, FAILED, OutboxMessage
from lti_tool.people.models import CourseMember, CourseRole, Person, Placement
from lti_tool.privacy import schedule
from lti_tool.privacy.models import Disposal, LegalHold
from lti_tool.requests import models as rm
from lti_tool.roles.models import RoleGrant

ERASED_PREFIX = "erased-"


@dataclass
class Candidate:
    """One record (or one group disposed together) and when it is due."""

    record_type: str  # a schedule key
    record_ids: list[int]
    person_id: int | None
    platform_id: int | None
    due_at: datetime
    what: str  # a short description for the admin page (no personal data)
    held_by: list[str] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return bool(self.held_by)


# --- legal holds -----------------------------------------------------------------------------

def holds(now: datetime | None = None,
          person_ids: Iterable[int] | None = None) -> dict[int, list[str]]:
    """The reasons each learner's records are held, by person id (only held people)."""
    now = now or utcnow()
    found: dict[int, list[str]] = defaultdict(list)
    wanted = set(person_ids) if person_ids is not None else None

    def keep(person_id: int, reason: str) -> None:
        if (wanted is None or person_id in wanted) and reason not in found[person_id]:
            found[person_id].append(reason)

    for learner_id in db.session.scalars(
            sa.select(im.Incident.learner_id).where(im.Incident.state.in_(im.OPEN_STATES))):
        keep(learner_id, "an open case")
    for learner_id in _pending_appeals():
        keep(learner_id, "a pending appeal")
    reported_period = schedule.periods()["case_reported"]
    for learner_id, reported_at in db.session.execute(
            sa.select(im.Incident.learner_id, im.Incident.closed_at).where(
                im.Incident.stage_action.in_(_report_outcomes()),
                im.Incident.state == im.CLOSED)):
        if reported_at is not None and schedule.add_period(reported_at,
                                                           reported_period) > now:
            keep(learner_id, "a case reported to the awarding body, within its period")
    for hold in db.session.scalars(sa.select(LegalHold).where(LegalHold.released_at.is_(None))):
        keep(hold.person_id, f"an administrator's hold: {hold.reason}")
    return dict(found)


def _report_outcomes() -> set[str]:
    """The outcome keys that send a report to the awarding body, under any policy the tool
    holds (and the bundled AIU v1.0)."""
    from lti_tool.policy import service as policies

    rules = [policies.bundled_rules(), *(p.rules for p in policies.published_policies())]
    return {o.key for r in rules for o in r.outcomes if o.report}


def _pending_appeals() -> list[int]:
    """Learners with an appeal not yet decided."""
    return list(db.session.scalars(sa.select(im.Appeal.learner_id).distinct()
                                   .where(im.Appeal.state == im.APPEAL_PENDING)))


def active_holds(platform_id: int) -> list[LegalHold]:
    return list(db.session.scalars(
        sa.select(LegalHold).where(LegalHold.platform_id == platform_id,
                                   LegalHold.released_at.is_(None))
        .order_by(LegalHold.placed_at)))


def place_hold(person: Person, reason: str, actor: Person) -> LegalHold:
    """An administrator's hold on everything about ``person`` (audited; flushes)."""
    reason = " ".join(reason.split())
    if not reason:
        raise ValueError("Enter the reason for the hold.")
    hold = LegalHold(platform_id=person.platform_id, person_id=person.id, reason=reason[:2000],
                     placed_by_id=actor.id)
    db.session.add(hold)
    db.session.flush()
    audit.record(f"person:{actor.id}", "legal_hold.placed", "legal_hold", hold.id,
                 {"person_id": person.id}, personal={"reason": hold.reason})
    return hold


def release_hold(hold: LegalHold, actor: Person) -> None:
    hold.released_at = utcnow()
    hold.released_by_id = actor.id
    db.session.flush()
    audit.record(f"person:{actor.id}", "legal_hold.released", "legal_hold", hold.id,
                 {"person_id": hold.person_id})


# --- what is due -----------------------------------------------------------------------------

def _course_ends() -> dict[int, datetime]:
    """Each course's end, as far as the tool can tell: the last time Moodle confirmed
    anyone's role there (a launch or a roster refresh)."""
    return {course_id: at for course_id, at in db.session.execute(
        sa.select(CourseRole.course_id, sa.func.max(CourseRole.confirmed_at))
        .group_by(CourseRole.course_id))}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def candidates(now: datetime | None = None, *, person_id: int | None = None,
               platform_id: int | None = None, everything: bool = False) -> list[Candidate]:
    """Records whose period has run by ``now`` (with ``everything``, all disposable
    records whatever their date: an erasure request), each with the holds on it."""
    now = now or utcnow()
    found = [*_cases(), *_declarations(), *_awareness(), *_requests(include_open=everything),
             *_emails()]
    if person_id is not None:
        found = [c for c in found if c.person_id == person_id]
    if platform_id is not None:
        found = [c for c in found if c.platform_id in (platform_id, None)]
    if not everything:
        found = [c for c in found if c.due_at <= now]
    held = holds(now, {c.person_id for c in found if c.person_id is not None})
    for c in found:
        c.held_by = list(held.get(c.person_id or 0, []))
    return sorted(found, key=lambda c: (c.due_at, c.record_type, c.record_ids))


def _cases() -> list[Candidate]:
    last_action: dict[int, datetime] = {incident_id: at for incident_id, at in db.session.execute(
        sa.select(im.IncidentEvent.incident_id, sa.func.max(im.IncidentEvent.at))
        .group_by(im.IncidentEvent.incident_id))}
    found = []
    reported = _report_outcomes()
    for incident in db.session.scalars(
            sa.select(im.Incident).where(im.Incident.state == im.CLOSED)):
        last = _aware(last_action.get(incident.id) or incident.closed_at or incident.raised_at)
        if incident.stage_action in reported:
            key, start = "case_reported", _aware(incident.closed_at or last)
        elif incident.outcome == im.UPHELD:
            key, start = "case_upheld", last
        else:
            key, start = "case_not_upheld", last
        found.append(Candidate(key, [incident.id], incident.learner_id, incident.platform_id,
                               schedule.due(key, start), f"Case {incident.id}"))
    return found


def _declarations() -> list[Candidate]:
    ends = _course_ends()
    groups: dict[tuple[int, int], list[Declaration]] = defaultdict(list)
    placements = {p.id: p for p in db.session.scalars(sa.select(Placement))}
    for row in db.session.scalars(sa.select(Declaration).order_by(Declaration.id)):
        groups[(row.person_id, row.placement_id)].append(row)
    platform_of = _platform_of_people()
    found = []
    for (person_id, placement_id), rows in groups.items():
        placement = placements[placement_id]
        end = _aware(max(ends.get(placement.course_id, rows[-1].created_at),
                         rows[-1].created_at))
        found.append(Candidate("declarations", [r.id for r in rows], person_id,
                               platform_of.get(person_id), schedule.due("declarations", end),
                               f"{len(rows)} declaration(s) for activity {placement_id}"))
    return found


def _awareness() -> list[Candidate]:
    ends = _course_ends()
    course_of = {pid: cid for pid, cid in db.session.execute(
        sa.select(Placement.id, Placement.course_id))}
    platform_of = _platform_of_people()
    found = []
    for row in db.session.scalars(sa.select(AwarenessEvent)):
        end = _aware(max(ends.get(course_of[row.placement_id], row.at), row.at))
        found.append(Candidate("awareness_events", [row.id], row.person_id,
                               platform_of.get(row.person_id),
                               schedule.due("awareness_events", end),
                               f"Policy seen, activity {row.placement_id}"))
    return found


def _requests(include_open: bool = False) -> list[Candidate]:
    found = []
    stmt = sa.select(rm.AiToolRequest)
    if not include_open:  # a request still waiting for the ALS team is never due
        stmt = stmt.where(rm.AiToolRequest.status.not_in(rm.OPEN_STATES))
    for req in db.session.scalars(stmt):
        start = _aware(req.updated_at)
        latest = req.latest_decision
        if req.status == rm.APPROVED and latest is not None and latest.expires_on is not None:
            start = max(start, datetime.combine(latest.expires_on + timedelta(days=1), time(),
                                                tzinfo=UTC))
        found.append(Candidate("ai_requests", [req.id], req.person_id, req.platform_id,
                               schedule.due("ai_requests", start), f"AI-tool request {req.id}"))
    return found


def _platform_of_people() -> dict[int, int]:
    return {pid: platform for pid, platform in db.session.execute(
        sa.select(Person.id, Person.platform_id))}


def people_by_recipient() -> dict[str, int]:
    """Person id by the keyed hash of their email addresses (launch and roster)."""
    found: dict[str, int] = {}
    for person_id, email in db.session.execute(sa.select(Person.id, Person.email)
                                               .where(Person.email != "")):
        found[recipient_hash(email)] = person_id
    for person_id, email in db.session.execute(
            sa.select(Person.id, CourseMember.email)
            .join(Person, Person.sub == CourseMember.sub).where(CourseMember.email != "")):
        found.setdefault(recipient_hash(email), person_id)
    return found


def _emails() -> list[Candidate]:
    people = people_by_recipient()
    found = []
    for message in db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.kind == EMAIL,
                                           OutboxMessage.status.in_((DELIVERED, FAILED)))):
        start = _aware(message.delivered_at or message.next_attempt_at or message.created_at)
        found.append(Candidate("emails", [message.id],
                               people.get(message.recipient_hash or ""), message.platform_id,
                               schedule.due("emails", start), f"Email {message.id}"))
    return found


def people_due(now: datetime, platform_id: int | None = None) -> list[Person]:
    """People whose last launch is a period ago and about whom nothing else is kept."""
    limit_text = schedule.periods()["people"]
    stmt = sa.select(Person).where(~Person.sub.startswith(ERASED_PREFIX))
    if platform_id is not None:
        stmt = stmt.where(Person.platform_id == platform_id)
    return [p for p in db.session.scalars(stmt)
            if schedule.add_period(_aware(p.last_launch_at), limit_text) <= now
            and not still_needed(p.id)]


def still_needed_as_actor(person_id: int) -> bool:
    """True while a kept case or decision names the person as the one who acted."""
    checks = (
        sa.select(im.Incident.id).where(sa.or_(im.Incident.raised_by_id == person_id,
                                               im.Incident.decided_by_id == person_id),
                                        im.Incident.learner_id != person_id),
        sa.select(im.IncidentEvent.id).join(im.Incident).where(
            im.IncidentEvent.actor_id == person_id, im.Incident.learner_id != person_id),
        sa.select(rm.RequestDecision.id).where(rm.RequestDecision.decided_by_id == person_id),
    )
    return any(db.session.scalar(q.limit(1)) is not None for q in checks)


def still_needed(person_id: int) -> bool:
    """True while a record about the person, or a case naming them, is kept."""
    checks = (
        sa.select(im.Incident.id).where(sa.or_(im.Incident.learner_id == person_id,
                                               im.Incident.raised_by_id == person_id,
                                               im.Incident.decided_by_id == person_id)),
        sa.select(Declaration.id).where(Declaration.person_id == person_id),
        sa.select(AwarenessEvent.id).where(AwarenessEvent.person_id == person_id),
        sa.select(im.IncidentEvent.id).where(im.IncidentEvent.actor_id == person_id),
        sa.select(rm.AiToolRequest.id).where(rm.AiToolRequest.person_id == person_id),
        sa.select(rm.RequestDecision.id).where(rm.RequestDecision.decided_by_id == person_id),
        sa.select(RoleGrant.id).where(RoleGrant.person_id == person_id,
                                      RoleGrant.revoked_at.is_(None)),
        sa.select(LegalHold.id).where(LegalHold.person_id == person_id,
                                      LegalHold.released_at.is_(None)),
    )
    return any(db.session.scalar(q.limit(1)) is not None for q in checks)


# --- disposal --------------------------------------------------------------------------------

def dispose(candidate: Candidate, rule: str | None = None) -> None:
    """Delete the records of ``candidate`` (flushes) and note the disposal by id."""
    ids = candidate.record_ids
    disposer = _DISPOSERS[candidate.record_type]
    disposer(ids)
    for record_id in ids:
        db.session.add(Disposal(platform_id=candidate.platform_id,
                                person_id=candidate.person_id,
                                record_type=candidate.record_type, record_id=str(record_id),
                                action="deleted", rule=rule or candidate.record_type,
                                due_at=candidate.due_at))
    db.session.flush()


def _delete(model: type, column: Any, ids: Sequence[int]) -> None:
    if ids:
        db.session.execute(sa.delete(model).where(column.in_(list(ids)))
                           .execution_options(synchronize_session=False))


def _dispose_cases(ids: list[int]) -> None:
    learners = set(db.session.scalars(sa.select(im.Incident.learner_id)
                                      .where(im.Incident.id.in_(ids))))
    evidence_ids = list(db.session.scalars(sa.select(im.EvidenceItem.id)
                                           .where(im.EvidenceItem.incident_id.in_(ids))))
    evidence_store.remove(evidence_ids)
    _delete(im.EvidenceFile, im.EvidenceFile.evidence_id, evidence_ids)
    # The learner's own files name their appeal, so they go before it; the case last.
    for model in (im.EvidenceItem, im.IncidentEvent, im.AuthenticityCheck, im.IncidentAnswer,
                  im.AnswerLink, im.StageLedgerEntry, im.LearnerFile, im.AnswerDraft,
                  im.Appeal):
        _delete(model, model.incident_id, ids)
    _delete(im.Incident, im.Incident.id, ids)
    db.session.flush()
    for learner_id in learners:
        # With no case left the learner starts afresh; otherwise the ordinals already used
        # stay counted, so a later decision never reuses one of a kept case.
        if db.session.scalar(sa.select(im.Incident.id)
                             .where(im.Incident.learner_id == learner_id).limit(1)) is None:
            _delete(im.LearnerStanding, im.LearnerStanding.person_id, [learner_id])
    audit.redact("incident", [str(i) for i in ids])
    db.session.expire_all()


def _dispose_declarations(ids: list[int]) -> None:
    rows = db.session.execute(sa.select(Declaration.person_id, Declaration.placement_id)
                              .where(Declaration.id.in_(ids)).distinct()).all()
    _delete(Authentication, Authentication.declaration_id, ids)
    # A chain of versions: the newest first, since each one points at the one it replaced.
    for declaration_id in sorted(ids, reverse=True):
        _delete(Declaration, Declaration.id, [declaration_id])
    for person_id, placement_id in rows:
        db.session.execute(sa.delete(ComprehensionAttempt).where(
            ComprehensionAttempt.person_id == person_id,
            ComprehensionAttempt.placement_id == placement_id))
    audit.redact("declaration", [str(i) for i in ids])
    db.session.expire_all()


def _dispose_awareness(ids: list[int]) -> None:
    _delete(AwarenessEvent, AwarenessEvent.id, ids)


def _dispose_requests(ids: list[int]) -> None:
    _delete(rm.RequestReply, rm.RequestReply.request_id, ids)
    _delete(rm.RequestDecision, rm.RequestDecision.request_id, ids)
    _delete(rm.AiToolRequest, rm.AiToolRequest.id, ids)
    audit.redact("ai_tool_request", [str(i) for i in ids])
    db.session.expire_all()


def _dispose_emails(ids: list[int]) -> None:
    _delete(OutboxMessage, OutboxMessage.id, ids)


_DISPOSERS = {
    "case_upheld": _dispose_cases, "case_not_upheld": _dispose_cases,
    "case_reported": _dispose_cases, "declarations": _dispose_declarations,
    "awareness_events": _dispose_awareness, "ai_requests": _dispose_requests,
    "emails": _dispose_emails,
}


def anonymise(person: Person, rule: str = "people") -> None:
    """Blank the person's name, email and Moodle ids (their id stays, so others' records
    that name them still hold together); their cached roster rows and course roles go."""
    db.session.execute(sa.delete(CourseMember).where(
        CourseMember.sub == person.sub,
        CourseMember.course_id.in_(sa.select(CourseRole.course_id)
                                   .where(CourseRole.person_id == person.id))))
    _delete(CourseRole, CourseRole.person_id, [person.id])
    person.name = person.given_name = person.family_name = ""
    person.email = person.username = person.sourcedid = ""
    person.sub = f"{ERASED_PREFIX}{person.id}"
    person.is_platform_admin = False
    db.session.add(Disposal(platform_id=person.platform_id, person_id=person.id,
                            record_type="people", record_id=str(person.id),
                            action="anonymised", rule=rule))
    audit.redact("person", [str(person.id)])
    db.session.flush()


# --- the run ---------------------------------------------------------------------------------

@dataclass
class RunReport:
    disposed: list[Candidate]
    held: list[Candidate]
    anonymised: list[int]
    dry_run: bool

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = defaultdict(int)
        for c in self.disposed:
            result[c.record_type] += len(c.record_ids)
        if self.anonymised:
            result["people"] = len(self.anonymised)
        return dict(result)


def run(now: datetime | None = None, *, dry_run: bool = False,
        actor: str = "system") -> RunReport:
    """Dispose of everything due by ``now`` and not held (flushes; the caller commits).
    With ``dry_run`` nothing is changed: the report says what would be."""
    now = now or utcnow()
    due = candidates(now)
    disposed = [c for c in due if not c.held]
    held = [c for c in due if c.held]
    if dry_run:
        # People whose last record is among ``disposed`` would go too; the preview names
        # only those due already.
        return RunReport(disposed, held, [p.id for p in people_due(now)], True)
    for candidate in disposed:
        dispose(candidate)
    anonymised = []
    for person in people_due(now):
        anonymise(person)
        anonymised.append(person.id)
    report = RunReport(disposed, held, anonymised, False)
    audit.record(actor, "retention.run", "retention", now.date().isoformat(),
                 {"disposed": report.counts(), "held": len(held)})
    return report


def ran_today(now: datetime | None = None) -> bool:
    from lti_tool.audit.models import AuditEvent

    now = now or utcnow()
    return db.session.scalar(sa.select(AuditEvent.id).where(
        AuditEvent.action == "retention.run",
        AuditEvent.object_id == now.date().isoformat()).limit(1)) is not None


def recent_disposals(platform_id: int, limit: int = 100) -> list[Disposal]:
    return list(db.session.scalars(
        sa.select(Disposal).where(sa.or_(Disposal.platform_id == platform_id,
                                         Disposal.platform_id.is_(None)))
        .order_by(Disposal.id.desc()).limit(limit)))


def summary_json(report: RunReport) -> str:
    return json.dumps(report.counts(), sort_keys=True)
