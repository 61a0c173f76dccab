"""Enqueueing and delivering outbox messages.

``enqueue`` only adds a row to the caller's transaction: if the change rolls back, nothing is
sent; if it commits, the message will be delivered even if Moodle or the mail server is down
for a while. Delivery claims a message with an atomic update (so two workers never send the
same one), respects the per-key order, and retries timeouts, 5xx and 429 with backoff.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, g

from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.outbox.models import DELIVERED, DISMISSED, FAILED, PENDING, OutboxMessage


class RetryLater(Exception):
    """A passing failure: try again after a backoff."""


class GiveUp(Exception):
    """A permanent failure: retrying cannot help; staff and admins see the reason."""


@dataclass(frozen=True)
class Delivered:
    note: str = ""


Handler = Callable[[OutboxMessage, dict[str, Any]], Delivered]
Minimiser = Callable[[dict[str, Any]], dict[str, Any]]
_handlers: dict[str, Handler] = {}
_minimisers: dict[str, Minimiser] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that delivers messages of ``kind``."""

    def register(fn: Handler) -> Handler:
        _handlers[kind] = fn
        return fn

    return register


def minimiser(kind: str) -> Callable[[Minimiser], Minimiser]:
    """Register what a delivered message of ``kind`` keeps of its payload (nothing secret
    stays at rest once it is no longer needed)."""

    def register(fn: Minimiser) -> Minimiser:
        _minimisers[kind] = fn
        return fn

    return register


def enqueue(kind: str, payload: dict[str, Any], *, ordering_key: str,
            platform_id: int | None = None, summary: str = "",
            recipient_hash: str | None = None) -> OutboxMessage:
    """Add a message to the current transaction (flushes, does not commit)."""
    message = OutboxMessage(kind=kind, payload=json.dumps(payload, sort_keys=True),
                            ordering_key=ordering_key, platform_id=platform_id,
                            summary=summary[:255], next_attempt_at=utcnow(),
                            recipient_hash=recipient_hash)
    db.session.add(message)
    db.session.flush()
    try:
        g.outbox_enqueued = True
    except RuntimeError:  # outside a request or app context (CLI): the worker delivers
        pass
    return message


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min ... capped at one hour, with a little jitter."""
    base = min(30 * 2 ** max(attempts - 1, 0), 3600)
    # Jitter spreads retries out; it guards nothing, so a non-cryptographic generator is right.
    return timedelta(seconds=base * random.uniform(0.9, 1.1))  # noqa: S311


def _claim(message_id: int, now: datetime) -> bool:
    lease = now + timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])
    claimed = db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == PENDING,
               sa.or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now))
        .values(locked_until=lease, attempts=OutboxMessage.attempts + 1)
    )
    db.session.commit()
    return claimed.rowcount == 1  # type: ignore[attr-defined]


def due_messages(limit: int = 50) -> list[int]:
    """Ids of messages ready to send: due, unlocked, and first in their ordering key."""
    now = utcnow()
    earlier = sa.orm.aliased(OutboxMessage)
    blocked = sa.select(earlier.id).where(
        earlier.ordering_key == OutboxMessage.ordering_key,
        earlier.status == PENDING, earlier.id < OutboxMessage.id,
    ).exists()
    stmt = (
        sa.select(OutboxMessage.id)
        .where(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now,
               sa.or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now),
               ~blocked)
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


def deliver(message_id: int) -> str | None:
    """Try to send one message; returns its new status, or None if another worker has it."""
    now = utcnow()
    if not _claim(message_id, now):
        return None
    message = db.session.get(OutboxMessage, message_id, populate_existing=True)
    assert message is not None
    fn = _handlers.get(message.kind)
    try:
        if fn is None:
            raise GiveUp(f"no handler for {message.kind}")
        result = fn(message, json.loads(message.payload))
    except Exception as exc:  # noqa: BLE001 - sorted below; nothing may stop the queue
        return _failed_attempt(message, exc)
    message.status = DELIVERED
    message.delivered_at = utcnow()
    message.last_error = result.note
    message.locked_until = None
    keep = _minimisers.get(message.kind)
    if keep is not None:
        message.payload = json.dumps(keep(json.loads(message.payload)), sort_keys=True)
    db.session.commit()
    return message.status


UNEXPECTED_HINT = ("an unexpected error ({name}) that retrying will not fix: see the tool's "
                   "log for outbox message {id}, correct the cause, then send it again")


def _failed_attempt(message: OutboxMessage, exc: Exception) -> str:
    """Record a failed attempt: retried later, or failed for good (shown to admins). An
    error no handler expected (bad data in the message, a bug) fails the message at once
    rather than leaving it pending and blocking the messages queued after it."""
    if isinstance(exc, RetryLater):
        if message.attempts >= current_app.config["OUTBOX_MAX_ATTEMPTS"]:
            message.status = FAILED
            message.last_error = f"gave up after {message.attempts} attempts: {exc}"
        else:
            message.next_attempt_at = utcnow() + backoff(message.attempts)
            message.last_error = str(exc)
        current_app.logger.warning("outbox_retry id=%s kind=%s attempts=%s error=%s",
                                   message.id, message.kind, message.attempts, exc)
    elif isinstance(exc, GiveUp):
        message.status = FAILED
        message.last_error = str(exc)
        current_app.logger.error("outbox_failed id=%s kind=%s error=%s", message.id,
                                 message.kind, exc)
    else:
        message_id = message.id
        db.session.rollback()  # whatever the handler half-did
        current = db.session.get(OutboxMessage, message_id, populate_existing=True)
        assert current is not None
        message = current
        message.status = FAILED
        message.last_error = UNEXPECTED_HINT.format(name=type(exc).__name__, id=message_id)
        current_app.logger.error("outbox_failed id=%s kind=%s error=unexpected %s",
                                 message_id, message.kind, type(exc).__name__, exc_info=exc)
    message.locked_until = None
    db.session.commit()
    return message.status


def deliver_due(limit: int = 50) -> dict[str, int]:
    """Deliver what is due now, in order; returns counts by outcome."""
    counts: dict[str, int] = {}
    seen: set[int] = set()
    # Deliver in rounds: a delivered message may unblock the next one with the same key.
    while True:
        ids = [i for i in due_messages(limit) if i not in seen]
        if not ids:
            return counts
        for message_id in ids:
            seen.add(message_id)
            outcome = deliver(message_id) or "skipped"
            counts[outcome] = counts.get(outcome, 0) + 1


def failed_messages(platform_id: int | None = None) -> list[OutboxMessage]:
    stmt = sa.select(OutboxMessage).where(OutboxMessage.status == FAILED)
    if platform_id is not None:
        stmt = stmt.where(sa.or_(OutboxMessage.platform_id == platform_id,
                                 OutboxMessage.platform_id.is_(None)))
    return list(db.session.scalars(stmt.order_by(OutboxMessage.id.desc())))


def retry_failed(message: OutboxMessage) -> None:
    """Put a failed message back in the queue (an admin's decision, audited by the caller)."""
    message.status = PENDING
    message.next_attempt_at = utcnow()
    message.attempts = 0



def retrying_messages(platform_id: int | None = None) -> list[OutboxMessage]:
    """Messages still being retried (Moodle or the mail server down): pending, with at
    least one failed attempt, oldest first."""
    stmt = sa.select(OutboxMessage).where(OutboxMessage.status == PENDING,
                                          OutboxMessage.attempts > 0,
                                          OutboxMessage.last_error != "")
    if platform_id is not None:
        stmt = stmt.where(sa.or_(OutboxMessage.platform_id == platform_id,
                                 OutboxMessage.platform_id.is_(None)))
    return list(db.session.scalars(stmt.order_by(OutboxMessage.id).limit(200)))


def dismiss_failed(message: OutboxMessage) -> None:
    """Keep a failed message but stop showing it (an admin's decision, audited by the
    caller): it will not be sent."""
    message.status = DISMISSED


# What an administrator can do about each kind of failure, matched on the stored reason.
_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("refused the address", "not one valid address"),
     "The mail server or the tool refused this person's email address. Correct it in their "
     "Moodle profile (the tool reads it at their next launch or roster refresh), then send "
     "again, or dismiss it: they still see the news in the tool."),
    (("HTTP 401", "HTTP 403", "invalid_client", "unauthorized"),
     "Moodle refused the tool's credentials: the tool's registration in Moodle was probably "
     "deleted, switched off or registered again. Check Site administration > Plugins > "
     "External tool > Manage tools; if the tool is missing, make a registration URL below "
     "and register it again, then send again."),
    (("HTTP 404",),
     "Moodle no longer has the grade item or activity (it may have been deleted). Dismiss "
     "it, or recreate the activity and send again."),
    (("platform registration is missing or switched off",),
     "This Moodle site's registration is switched off in the tool. Register it again, then "
     "send again."),
    (("no grade item", "lists no grade item", "grade item has no id"),
     "Moodle has no grade item for the activity. Check the activity's grade settings in "
     "Moodle, then send again."),
    (("could not be reached", "timed out", "HTTP 5", "HTTP 429", "answered 4"),
     "A passing failure: the server was down or busy. The tool retries by itself; send "
     "again only once it is back."),
    (("refused the message",),
     "The mail server refused the message itself: check the mail server's log and "
     "settings (LTI_TOOL_MAIL_*), then send again."),
)


def hint(message: OutboxMessage) -> str:
    """What an administrator can do about this failed or retrying message."""
    reason = message.last_error or ""
    for needles, text in _HINTS:
        if any(n.lower() in reason.lower() for n in needles):
            return text
    return ("An unexpected failure: the tool's log has the details for outbox message "
            f"{message.id}. Correct the cause, then send again, or dismiss it.")
