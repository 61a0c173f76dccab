"""Confirm, then act: an irreversible action (recording an incident, a decision, declining a
request, revoking a role) is done only by a POST that carries a confirmation of exactly the
fields it sends.

A view validates its form as usual, then::

    if not confirmation.confirmed():
        return confirmation.ask(title="Record this incident?", consequences=[...],
                                confirm_label="Record it and email the learner",
                                cancel_url=url_for(...))
    ... act ...

The first POST (no confirmation) renders a confirmation page (``templates/confirm.html``,
built on the ``confirm_panel`` macro of ``macros/ui.html``) and writes nothing: not even the
one-time submission key is claimed (:func:`lti_tool.submissions.guard.once` gives it back).
That page posts the same fields again, with the same submission key (so a resent form, or a
resent confirmation, gets the first answer: one record) and a token signed with the app's
secret over the path and every field (uploaded files included, carried as hidden fields). A
token that does not match what is sent is refused (400); no JavaScript is needed.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from flask import current_app, g, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext
from itsdangerous import BadSignature, URLSafeTimedSerializer
from markupsafe import Markup
from sqlalchemy import event
from sqlalchemy.orm import Session

from lti_tool.extensions import db
from lti_tool.lti.exceptions import ToolError
from lti_tool.outbox.handlers import EMAIL
from lti_tool.outbox.models import OutboxMessage
from lti_tool.submissions.guard import new_key

T = TypeVar("T")

FIELD = "confirmation"
CARRIED = "carried_file-"
# How long a confirmation page may stay open before its token expires.
MAX_AGE_SECONDS = 2 * 60 * 60
_SALT = "aiu-confirm-then-act"
# Never part of what is confirmed: they change on every rendering.
_VOLATILE = {"csrf_token", "submission_key", FIELD}


class ConfirmationRefused(ToolError):
    title = lazy_gettext("This action was not confirmed")


@dataclass(frozen=True)
class Preview:
    """An email the action will send, shown on the confirmation page."""

    to: str
    subject: str
    body: str


@dataclass
class Confirmation:
    """What the confirmation form sends again: its action, the fields and the token."""

    action: str
    fields: list[tuple[str, str]]
    token: str
    submission_key: str
    field: str = FIELD
    consequences: list[str | Markup] = dataclasses.field(default_factory=list)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(current_app.config["SECRET_KEY"]), salt=_SALT)


def _is_volatile(name: str) -> bool:
    return name in _VOLATILE or name.endswith("-csrf_token")


def _payload() -> tuple[list[tuple[str, str]], str]:
    """The request's fields (uploaded files turned into carried fields) and their digest."""
    fields = [(name, value) for name, value in request.form.items(multi=True)
              if not _is_volatile(name)]
    for name, storage in request.files.items(multi=True):
        if storage and storage.filename:
            content = storage.read()
            storage.seek(0)
            fields.append((CARRIED + name, json.dumps(
                [storage.filename, base64.b64encode(content).decode("ascii")])))
    digest = hashlib.sha256(json.dumps([request.path, sorted(fields)]).encode()).hexdigest()
    return fields, digest


def confirmed() -> bool:
    """True when this POST carries a valid confirmation of exactly what it sends; False when
    it carries none (show the confirmation page). A confirmation that does not match (edited
    fields, another action, expired) is refused with a 400 before anything is written."""
    token = request.form.get(FIELD)
    if not token:
        return False
    _, digest = _payload()
    try:
        signed = _serializer().loads(token, max_age=MAX_AGE_SECONDS)
    except BadSignature as exc:
        raise ConfirmationRefused(
            "confirmation_invalid", "The confirmation page was out of date or changed, so "
            "nothing was done. Go back, check the details and confirm again.") from exc
    if signed != digest:
        raise ConfirmationRefused(
            "confirmation_mismatch", "What was sent is not what was confirmed, so nothing "
            "was done. Go back, check the details and confirm again.")
    return True


def uploaded_file(name: str) -> tuple[str | None, bytes | None]:
    """(filename, content) of the upload field ``name``: the file itself on the first POST,
    the carried copy on the confirmed one; (None, None) when there is none."""
    storage = request.files.get(name)
    if storage is not None and storage.filename:
        content = storage.read()
        storage.seek(0)
        return storage.filename, content
    carried = request.form.get(CARRIED + name)
    if not carried:
        return None, None
    try:
        filename, encoded = json.loads(carried)
        return str(filename), base64.b64decode(encoded, validate=True)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ConfirmationRefused("confirmation_invalid", "The file sent with the "
                                  "confirmation could not be read. Upload it again.") from exc


def ask(*, title: str, consequences: Sequence[str | Markup], confirm_label: str,
        cancel_url: str, heading: str | None = None, lead: str | None = None,
        preview: Preview | None = None, danger: bool = False,
        cancel_label: str = "Cancel", status: int = 200) -> ResponseReturnValue:
    """The confirmation page for the current POST: ``heading`` (the page's h1, default
    ``title``), the ``consequences`` as a list, an optional email ``preview``, and a form
    sending the same fields again with a token. The submission key of this POST is given back
    (nothing is written)."""
    fields, digest = _payload()
    g.submission_unclaimed = True
    confirmation = Confirmation(action=request.path, fields=fields,
                                token=_serializer().dumps(digest),
                                submission_key=request.form.get("submission_key") or new_key(),
                                consequences=list(consequences))
    return render_template("confirm.html", confirmation=confirmation, title=title,
                           heading=heading or title, lead=lead, preview=preview,
                           confirm_label=confirm_label, cancel_url=cancel_url,
                           cancel_label=cancel_label, danger=danger), status



@dataclass(frozen=True)
class Rehearsal(Generic[T]):
    """What an action would do: the value it computed and the emails it would queue."""

    value: T
    emails: list[Preview]


def rehearse(act: Callable[[], T]) -> Rehearsal[T]:
    """Run ``act`` in a savepoint and roll it back: its form errors surface before the
    person confirms, and its consequences (``act``'s value: compute plain values inside it,
    the records it touched are expired afterwards) and emails can be shown. Nothing is kept;
    an exception from ``act`` propagates after the rollback."""
    session = db.session()
    queued: list[Preview] = []

    def keep(_: Session, instance: object) -> None:
        if isinstance(instance, OutboxMessage) and instance.kind == EMAIL:
            payload = json.loads(instance.payload)
            queued.append(Preview(payload["to"], payload["subject"], payload["text"]))

    kicked = g.get("outbox_enqueued")
    event.listen(session, "pending_to_persistent", keep)
    savepoint = session.begin_nested()
    try:
        value = act()
        session.flush()
    finally:
        savepoint.rollback()
        event.remove(session, "pending_to_persistent", keep)
        if kicked is None:
            g.pop("outbox_enqueued", None)
    return Rehearsal(value, queued)
