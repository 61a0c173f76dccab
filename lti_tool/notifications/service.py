"""Emails to people, for any domain (requests, declarations, incidents...).

:func:`send_email` renders ``templates/email/<template>.txt`` and ``.html`` and adds the
message to the durable outbox in the caller's transaction: if the change rolls back nothing
is sent; if it commits, the email is delivered even when the mail server is down for a while
(``flask worker`` retries). SMTP settings are ``MAIL_*`` in :mod:`lti_tool.config`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, render_template
from itsdangerous import BadData, URLSafeTimedSerializer

from lti_tool.audit import service as audit
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.log_redaction import mask_email
from lti_tool.notifications.addresses import recipient_hash, usable_address
from lti_tool.notifications.models import (
    DAILY,
    FREQUENCIES,
    IMMEDIATELY,
    DigestItem,
    NotificationPreference,
)
from lti_tool.outbox.handlers import EMAIL
from lti_tool.outbox.models import OutboxMessage
from lti_tool.outbox.service import enqueue
from lti_tool.people.models import Person, Placement


def send_email(to: str, subject: str, template: str, *, platform_id: int | None = None,
               ordering_key: str | None = None, **context: Any) -> OutboxMessage | None:
    """Queue an email to ``to``; returns the outbox message, or None when ``to`` is empty or
    not one valid address (see :func:`usable_address`: a person Moodle shared no usable
    email for gets no email; show them the news in the tool).

    ``template`` names ``email/<template>.txt`` (plain text, not escaped) and
    ``email/<template>.html`` (autoescaped); both get ``subject`` and ``context``.
    Emails to the same address are delivered in the order they were queued unless
    ``ordering_key`` says otherwise. Must run inside an app context; flushes, never commits.
    Once delivered, the message keeps only the masked address, subject and template (see
    :func:`lti_tool.outbox.handlers.minimise_email`): its body and links are gone.
    """
    to = usable_address(to)
    if not to:
        return None
    subject = " ".join(subject.split())  # one line, whatever a title held
    text = render_template(f"email/{template}.txt", subject=subject, **context)
    html = render_template(f"email/{template}.html", subject=subject, **context)
    hashed = recipient_hash(to)
    return enqueue(EMAIL, {"to": to, "subject": subject, "template": template, "text": text,
                           "html": html},
                   ordering_key=ordering_key or f"email:{hashed}", recipient_hash=hashed,
                   platform_id=platform_id, summary=f"Email '{subject}' to {mask_email(to)}")


# -- links that lead to a page, through a launch when the session is gone ---------------------

_OPEN_SALT = "aiu-open-link"
# An emailed link stays usable this long (it only says which page to open: the page checks
# access as always).
OPEN_LINK_MAX_AGE = 180 * 24 * 3600


def tool_path(endpoint: str, **values: Any) -> str:
    """The path of a tool page for an email: built without the request, so it never carries
    the launch id of whoever caused the email (``url_for`` in a page would)."""
    adapter = current_app.url_map.bind("localhost", url_scheme="https")
    return str(adapter.build(endpoint, values))


def _open_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_OPEN_SALT)


def link_to(person: Person, path: str, placement: Placement | None = None) -> str:
    """The address an email gives ``person`` for the tool page ``path`` (from
    :func:`tool_path`). With a session it opens the page; without one (a link opened outside
    Moodle's frame) the tool asks them to open the activity in Moodle (``placement``, if
    known, else any) and their next launch lands on the page."""
    if not path.startswith("/") or path.startswith("//"):
        raise ValueError("a path of the tool is needed")
    token = _open_serializer().dumps(
        {"p": person.id, "to": path, **({"via": placement.id} if placement else {})})
    return f"{current_app.config['BASE_URL'].rstrip('/')}/open/{token}"


@dataclass(frozen=True)
class OpenLink:
    person_id: int
    path: str
    placement_id: int | None


def read_link(token: str) -> OpenLink | None:
    """What an emailed link names, or None if it is not one of the tool's (or too old)."""
    try:
        data = _open_serializer().loads(token, max_age=OPEN_LINK_MAX_AGE)
    except BadData:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("p"), int) or not isinstance(
            data.get("to"), str) or not data["to"].startswith("/") or data["to"].startswith("//"):
        return None
    via = data.get("via")
    return OpenLink(data["p"], data["to"], via if isinstance(via, int) else None)


def remember_destination(person: Person, path: str) -> None:
    """The person's next launch (within ``OPEN_LINK_PENDING_MINUTES``) goes to ``path``."""
    person.pending_path = path[:512]
    person.pending_path_at = utcnow()
    db.session.flush()


def take_destination(person: Person) -> str | None:
    """At a launch: the page an emailed link asked for a few minutes ago, if any (cleared).
    Reads and writes only the person row the launch loads and updates anyway."""
    path, at = person.pending_path, person.pending_path_at
    if path is None:
        return None
    person.pending_path = None
    person.pending_path_at = None
    minutes = float(current_app.config["OPEN_LINK_PENDING_MINUTES"])
    if at is None or at < utcnow() - timedelta(minutes=minutes):
        return None
    return path


# -- who is told how: immediately or in the daily digest -----------------------------------------

def frequency_of(person: Person) -> str:
    found = db.session.get(NotificationPreference, person.id)
    return found.frequency if found is not None else IMMEDIATELY


def set_frequency(person: Person, frequency: str) -> None:
    """Record how the person wants to be told (audited)."""
    if frequency not in FREQUENCIES:
        raise ValueError("unknown frequency")
    found = db.session.get(NotificationPreference, person.id)
    if found is None:
        found = NotificationPreference(person_id=person.id)
        db.session.add(found)
    found.frequency = frequency
    found.updated_at = utcnow()
    db.session.flush()
    audit.record(f"person:{person.id}", "notifications.frequency_set", "person", person.id,
                 {"frequency": frequency})


def notify(person: Person, *, subject: str, template: str, path: str, line: str,
           placement: Placement | None = None, **context: Any) -> None:
    """Tell ``person`` about something on the page ``path`` (from :func:`tool_path`): an
    email now (``email/<template>``, given ``link`` and ``context``), or, if they chose the
    daily digest, a ``line`` in their next one. Other domains call this for their own news
    (e.g. a stage to report to the awarding body). Flushes, never commits."""
    link = link_to(person, path, placement)
    if frequency_of(person) == DAILY:
        db.session.add(DigestItem(person_id=person.id, platform_id=person.platform_id,
                                  line=" ".join(line.split())[:500], url=link,
                                  created_at=utcnow()))
        db.session.flush()
        return
    send_email(person.email, subject, template, platform_id=person.platform_id,
               person=person, link=link, **context)


def notify_als(platform_id: int, *, about: Person, subject: str, template: str, path: str,
               line: str, **context: Any) -> int:
    """:func:`notify` every ALS member of the platform except ``about`` (an ALS member's own
    request is not theirs to decide). Returns how many were told."""
    from lti_tool.roles.service import als_members

    members = [m for m in als_members(platform_id) if m.id != about.id]
    for member in members:
        notify(member, subject=subject, template=template, path=path, line=line, **context)
    return len(members)


def digest_cutoff(now: datetime | None = None) -> datetime:
    """The latest digest time (``DIGEST_HOUR`` UTC) at or before ``now``."""
    now = now or utcnow()
    today = now.replace(hour=int(current_app.config["DIGEST_HOUR"]), minute=0, second=0,
                        microsecond=0)
    return today if today <= now else today - timedelta(days=1)


def send_digests(now: datetime | None = None) -> int:
    """Queue one digest email per person for the lines that arrived before the latest
    digest time (the worker calls this every round; each line is claimed by a conditional
    update, so two workers never send it twice). Returns the number of digests queued."""
    cutoff = digest_cutoff(now)
    waiting = db.session.scalars(
        sa.select(DigestItem.person_id).where(DigestItem.sent_at.is_(None),
                                              DigestItem.created_at < cutoff)
        .distinct()).all()
    sent = 0
    for person_id in waiting:
        items = list(db.session.scalars(
            sa.select(DigestItem).where(DigestItem.person_id == person_id,
                                        DigestItem.sent_at.is_(None),
                                        DigestItem.created_at < cutoff)
            .order_by(DigestItem.id)))
        claimed = db.session.execute(
            sa.update(DigestItem).where(DigestItem.id.in_([i.id for i in items]),
                                        DigestItem.sent_at.is_(None))
            .values(sent_at=utcnow()).execution_options(synchronize_session=False))
        if claimed.rowcount != len(items):  # type: ignore[attr-defined]
            db.session.rollback()  # another worker has them
            continue
        person = db.session.get(Person, person_id)
        if person is not None:
            count = len(items)
            send_email(person.email, f"AIU daily summary: {count} new "
                       f"item{'s' if count != 1 else ''}", "digest",
                       platform_id=person.platform_id, person=person, items=items)
        db.session.commit()
        sent += 1
    return sent
