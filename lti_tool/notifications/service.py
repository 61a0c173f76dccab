"""Emails to people, for any domain (requests, declarations, incidents...).

:func:`send_email` renders ``templates/email/<template>.txt`` and ``.html`` and adds the
message to the durable outbox in the caller's transaction: if the change rolls back nothing
is sent; if it commits, the email is delivered even when the mail server is down for a while
(``flask worker`` retries). SMTP settings are ``MAIL_*`` in :mod:`lti_tool.config`.
"""

from __future__ import annotations

from typing import Any

from flask import render_template

from lti_tool.log_redaction import mask_email
from lti_tool.notifications.addresses import recipient_hash, usable_address
from lti_tool.outbox.handlers import EMAIL
from lti_tool.outbox.models import OutboxMessage
from lti_tool.outbox.service import enqueue


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
