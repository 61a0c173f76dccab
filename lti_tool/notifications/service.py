"""Sending email: render ``templates/email/<template>.txt`` and ``.html`` and queue them in
the outbox, in the caller's transaction (nothing is sent if the change rolls back)."""

from __future__ import annotations

from typing import Any

from flask import render_template

from lti_tool.outbox.handlers import EMAIL
from lti_tool.outbox.models import OutboxMessage
from lti_tool.outbox.service import enqueue


def send_email(to: str, subject: str, template: str, **context: Any) -> OutboxMessage:
    """Queue an email to ``to`` with a plain-text and an HTML part.

    ``template`` names the pair ``templates/email/<template>.txt`` / ``.html``; both are
    rendered with ``context`` (and ``subject``). Needs an application context, not a request:
    links in ``context`` must already be absolute. Flushes; the caller commits.
    """
    subject = " ".join(subject.split())  # one line, whatever a title held
    context = {"subject": subject, **context}
    text = render_template(f"email/{template}.txt", **context)
    html = render_template(f"email/{template}.html", **context)
    return enqueue(EMAIL, {"to": to, "subject": subject, "text": text, "html": html},
                   ordering_key=f"email:{to}", summary=f"Email '{subject}' to {to}")
