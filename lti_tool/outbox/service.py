"""Enqueueing and delivering outbox messages.

``enqueue`` only adds a row to the caller's transaction: if the change rolls back, nothing is
sent; if it commits, the message will be delivered even if Moodle or the mail server is down
for a while. Delivery leases messages to one worker (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, an atomic update on SQLite, so two workers never send the same one), respects
the per-key order, and retries timeouts, 5xx and 429 with backoff. A worker that dies
mid-delivery leaves its lease to run out (``OUTBOX_LEASE_SECONDS``): then another sends it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, g

from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.outbox.models import DELIVERED, DISMISSED, FAILED, PENDING, OutboxMessage
from lti_tool.platforms.models import Platform


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


# How many due messages one worker claims in one statement on PostgreSQL: enough to save
# round trips, few enough that several workers share the heads of the queue between them.
CLAIM_BATCH = 10


def _lease_until(now: datetime) -> datetime:
    return now + timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])


def _unlocked(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now)


def _claim(message_id: int, now: datetime, lease: datetime) -> bool:
    """Take one message with an atomic update (committed): another worker that tries at the
    same time updates nothing."""
    claimed = db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == PENDING, _unlocked(now))
        .values(locked_until=lease, attempts=OutboxMessage.attempts + 1)
    )
    db.session.commit()
    return claimed.rowcount == 1  # type: ignore[attr-defined]


def _due(now: datetime, limit: int) -> sa.Select[int]:
    """Messages ready to send, oldest first: pending, due, unleased, and the first pending
    message of their ordering key (the one behind it waits, leased or not)."""
    earlier = sa.orm.aliased(OutboxMessage)
    blocked = sa.select(earlier.id).where(
        earlier.ordering_key == OutboxMessage.ordering_key,
        earlier.status == PENDING, earlier.id < OutboxMessage.id,
    ).exists()
    return (
        sa.select(OutboxMessage.id)
        .where(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now,
               _unlocked(now), ~blocked)
        .order_by(OutboxMessage.id)
        .limit(limit)
    )


def claim_due(limit: int, now: datetime, lease: datetime) -> list[int]:
    """Lease up to ``limit`` due messages to this worker until ``lease`` (committed) and
    return their ids in order.

    On PostgreSQL one statement does it: ``FOR UPDATE SKIP LOCKED`` passes over the rows
    another worker is claiming at that moment instead of waiting for them, and the lease it
    writes keeps them out of every later claim. Only the first pending message of a key is
    ever due, so no two workers (and no two rows of one batch) hold messages of the same
    key. SQLite has one writer at a time: there each due message is claimed by an atomic
    update, as before.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return [i for i in db.session.scalars(_due(now, limit)).all() if _claim(i, now, lease)]
    due = _due(now, limit).with_for_update(skip_locked=True).cte("due").prefix_with(
        "MATERIALIZED")
    claimed = db.session.scalars(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == due.c.id)
        .values(locked_until=lease, attempts=OutboxMessage.attempts + 1)
        .returning(OutboxMessage.id)
    ).all()
    db.session.commit()
    return sorted(claimed)


def _release(message_ids: list[int], lease: datetime) -> None:
    """Give back claimed messages this worker will not start (committed): the next claim,
    by any worker, takes them as if this one had never leased them."""
    db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids), OutboxMessage.status == PENDING,
               OutboxMessage.locked_until == lease)
        .values(locked_until=None, attempts=OutboxMessage.attempts - 1)
    )
    db.session.commit()


def deliver(message_id: int) -> str | None:
    """Try to send one message; returns its new status, or None if another worker has it."""
    now = utcnow()
    if not _claim(message_id, now, _lease_until(now)):
        return None
    message = db.session.get(OutboxMessage, message_id, populate_existing=True)
    assert message is not None
    return _send(message)


def _send(message: OutboxMessage) -> str:
    """Send a message this worker has leased; record the outcome (committed)."""
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
    return DELIVERED


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
    status = message.status
    message.locked_until = None
    db.session.commit()
    return status


def deliver_due(batch: int = CLAIM_BATCH) -> dict[str, int]:
    """Deliver what is due now, in order; returns counts by outcome.

    Claims ``batch`` messages at a time and sends them one after another. A message of the
    batch is started only while at least half of the lease is left, so a slow Moodle cannot
    make the lease run out under a message not yet sent (another worker would then send it
    too); the rest go back to the queue.
    """
    counts: dict[str, int] = {}
    session = db.session()
    expire_on_commit = session.expire_on_commit
    # Within a batch, what was read stays loaded across the commit of each message's
    # outcome (the batch's messages, their platform): one statement and a commit per
    # message, not four. Each batch starts from fresh rows (expire_all below), so a platform
    # switched off is seen by the next batch at the latest.
    session.expire_on_commit = False
    try:
        # Claim in rounds: a delivered message may unblock the next one with the same key.
        while True:
            session.expire_all()
            now = utcnow()
            lease = _lease_until(now)
            claimed = claim_due(batch, now, lease)
            if not claimed:
                return counts
            messages = db.session.scalars(
                sa.select(OutboxMessage).where(OutboxMessage.id.in_(claimed))
                .order_by(OutboxMessage.id).execution_options(populate_existing=True)).all()
            # Held for the batch: the session keeps loaded rows only while they are
            # referenced, and every score's handler looks up its platform.
            platforms = _platforms_of(messages)  # noqa: F841
            start_before = now + (lease - now) / 2
            for position, message in enumerate(messages):
                if position and utcnow() > start_before:
                    _release([m.id for m in messages[position:]], lease)
                    break
                outcome = _send(message)
                counts[outcome] = counts.get(outcome, 0) + 1
    finally:
        session.expire_on_commit = expire_on_commit


def _platforms_of(messages: Sequence[OutboxMessage]) -> list[Platform]:
    ids = {m.platform_id for m in messages if m.platform_id is not None}
    if not ids:
        return []
    return list(db.session.scalars(sa.select(Platform).where(Platform.id.in_(ids))))


@dataclass(frozen=True)
class QueueFigures:
    """How the outbox is doing, for monitoring: no message's content, only counts."""

    pending: int
    oldest_pending_seconds: int  # 0 when nothing is waiting
    failed: int

    def as_json(self) -> dict[str, int]:
        return {"pending": self.pending, "oldest_pending_seconds": self.oldest_pending_seconds,
                "failed": self.failed}


def queue_figures() -> QueueFigures:
    """Messages waiting to be sent (due or retrying later), how long the oldest has waited
    since it was queued, and messages that failed for good: one aggregate query."""
    waiting = OutboxMessage.status == PENDING
    row = db.session.execute(
        sa.select(sa.func.count(OutboxMessage.id).filter(waiting),
                  sa.func.min(OutboxMessage.created_at).filter(waiting),
                  sa.func.count(OutboxMessage.id).filter(OutboxMessage.status == FAILED))
        .where(OutboxMessage.status.in_((PENDING, FAILED)))
    ).one()
    pending, oldest, failed = int(row[0] or 0), row[1], int(row[2] or 0)
    age = 0
    if pending and oldest is not None:
        if oldest.tzinfo is None:  # an aggregate is not always read back through the column type
            oldest = oldest.replace(tzinfo=UTC)
        age = max(int((utcnow() - oldest).total_seconds()), 0)
    return QueueFigures(pending, age, failed)


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
