"""Recording and verifying audit events.

Every state change in the tool calls :func:`record` inside the same transaction as the
change, so the event and the change commit or roll back together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lti_tool.audit.anchors import Anchor
from lti_tool.audit.models import GENESIS_HASH, AuditEvent, AuditHead
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db


def _digest(prev_hash: str, seq: int, created_at: str, actor: str, action: str,
            object_type: str, object_id: str, details: str) -> str:
    payload = json.dumps(
        [prev_hash, seq, created_at, actor, action, object_type, object_id, details],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _timestamp(event: AuditEvent) -> str:
    return event.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# Keys of ``details`` that can hold personal data: kept in the redactable ``personal``
# column, never in the hashed payload (which names records and people by id only).
PERSONAL_KEYS = frozenset({
    "sub", "email", "to", "name", "label", "filename", "checker_result", "conducted_by",
    "assessor", "signature", "text", "answer", "notes", "reasons", "observations",
    "reason_detail", "purpose", "tool_name",
})


def record(actor: str, action: str, object_type: str, object_id: object,
           details: dict[str, Any] | None = None,
           personal: dict[str, Any] | None = None) -> AuditEvent:
    """Append an event to the chain (flushes; the caller's request or job commits).

    ``actor`` names who acted: ``person:<id>``, ``cli:<user>``, ``platform:<id>`` or
    ``system``. ``details`` must be JSON-serialisable and must never hold tokens; any of
    its :data:`PERSONAL_KEYS` join ``personal``, which is stored outside the hash so that
    :func:`redact` can blank it when the record it is about is disposed of.
    """
    hashed = {k: v for k, v in (details or {}).items() if k not in PERSONAL_KEYS}
    personal = {**{k: v for k, v in (details or {}).items() if k in PERSONAL_KEYS},
                **(personal or {})}
    # Touch the head row first: on PostgreSQL this takes a row lock and on SQLite the write
    # lock, so two appenders can never chain onto the same previous hash.
    updated = db.session.execute(
        sa.update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq)
    )
    if updated.rowcount == 0:  # type: ignore[attr-defined]
        db.session.add(AuditHead(id=1, seq=0, last_hash=GENESIS_HASH))
        db.session.flush()
    head = db.session.get(AuditHead, 1, populate_existing=True)
    assert head is not None
    event = AuditEvent(
        seq=head.seq + 1,
        created_at=utcnow(),
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        details=json.dumps(hashed, sort_keys=True, ensure_ascii=False),
        personal=json.dumps(personal, sort_keys=True, ensure_ascii=False, default=str)
        if personal else None,
        prev_hash=head.last_hash,
    )
    event.hash = _digest(event.prev_hash, event.seq, _timestamp(event), actor, action,
                         object_type, event.object_id, event.details)
    db.session.add(event)
    head.seq = event.seq
    head.last_hash = event.hash
    db.session.flush()
    return event


def redact(object_type: str, object_ids: list[str]) -> int:
    """Blank the personal data of the events about these records (disposal); the chain is
    untouched. Returns how many events were redacted."""
    if not object_ids:
        return 0
    done = 0
    for start in range(0, len(object_ids), 500):
        result = db.session.execute(
            sa.update(AuditEvent)
            .where(AuditEvent.object_type == object_type,
                   AuditEvent.object_id.in_(object_ids[start:start + 500]),
                   AuditEvent.personal.is_not(None))
            .values(personal=None).execution_options(synchronize_session=False))
        done += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return done


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    problem: str | None = None


def verify(anchors: Sequence[Anchor] = ()) -> VerifyResult:
    """Walk the whole chain and report the first event that does not fit, including one
    that differs from a chain head recorded outside the database (``anchors``): a chain
    rewritten and rehashed from the start fits together but not with its anchors."""
    anchored = {a.seq: a for a in anchors}
    prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    stmt = sa.select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=500)
    # Closed explicitly: on PostgreSQL yield_per streams through a server-side cursor.
    with db.session.scalars(stmt) as events:
        for event in events:
            if event.seq != expected_seq:
                return VerifyResult(False, checked, f"event {expected_seq} is missing")
            if event.prev_hash != prev:
                return VerifyResult(False, checked,
                                    f"event {event.seq} does not follow its predecessor")
            digest = _digest(event.prev_hash, event.seq, _timestamp(event), event.actor,
                             event.action, event.object_type, event.object_id, event.details)
            if digest != event.hash:
                return VerifyResult(False, checked, f"event {event.seq} was altered")
            anchor = anchored.get(event.seq)
            if anchor is not None and anchor.hash != event.hash:
                return VerifyResult(False, checked, f"event {event.seq} differs from the chain "
                                    f"head anchored on {anchor.at[:10]}: the chain was "
                                    "rewritten")
            prev = event.hash
            expected_seq += 1
            checked += 1
    head = db.session.get(AuditHead, 1)
    if head is not None and (head.seq != checked or head.last_hash != prev):
        return VerifyResult(False, checked, "the newest events were removed")
    if anchored and max(anchored) > checked:
        return VerifyResult(False, checked, f"the chain is shorter than the {max(anchored)} "
                            "events anchored: events were removed")
    return VerifyResult(True, checked)


def actor_names(actors: Iterable[str]) -> dict[str, str]:
    """How each ``actor`` string (as :func:`record` stores it) reads on a page: the person's
    name, "the command line", "Moodle", "the tool"; never an internal id. One query."""
    from lti_tool.people.models import Person

    actors = set(actors)
    ids = {int(a.split(":", 1)[1]) for a in actors
           if a.startswith("person:") and a.split(":", 1)[1].isdigit()}
    names = {p.id: p.display_name for p in db.session.scalars(
        sa.select(Person).where(Person.id.in_(ids)))} if ids else {}
    result = {}
    for actor in actors:
        kind, _, rest = actor.partition(":")
        if kind == "person" and rest.isdigit():
            result[actor] = names.get(int(rest), "someone no longer known to the tool")
        elif kind == "cli":
            result[actor] = "the command line"
        elif kind == "platform":
            result[actor] = "Moodle"
        else:
            result[actor] = "the tool"
    return result


@dataclass(frozen=True)
class EventFilter:
    """What the audit-log viewer shows: an action, who acted (part of the actor string or
    of a person's name is not searched: the exact actor), the object, a page."""

    action: str = ""
    object_type: str = ""
    object_id: str = ""
    actor: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, args: Any) -> EventFilter:
        def part(name: str) -> str:
            return " ".join(str(args.get(name, "")).split())[:100]

        try:
            page = max(int(args.get("page", 1)), 1)
        except (TypeError, ValueError):
            page = 1
        return cls(part("action"), part("object_type"), part("object_id"), part("actor"), page)


def events(filters: EventFilter, *, page_size: int = 50) -> tuple[list[AuditEvent], int]:
    """The events the filters keep, newest first, one page; and how many pages."""
    stmt = sa.select(AuditEvent)
    if filters.action:
        stmt = stmt.where(AuditEvent.action == filters.action)
    if filters.object_type:
        stmt = stmt.where(AuditEvent.object_type == filters.object_type)
    if filters.object_id:
        stmt = stmt.where(AuditEvent.object_id == filters.object_id)
    if filters.actor:
        stmt = stmt.where(AuditEvent.actor == filters.actor)
    total = int(db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
                or 0)
    pages = max((total + page_size - 1) // page_size, 1)
    page = min(filters.page, pages)
    rows = list(db.session.scalars(stmt.order_by(AuditEvent.seq.desc())
                                   .offset((page - 1) * page_size).limit(page_size)))
    return rows, pages


def known_actions() -> list[str]:
    """Every action recorded so far (for the viewer's filter)."""
    return list(db.session.scalars(sa.select(AuditEvent.action).distinct()
                                   .order_by(AuditEvent.action)))
