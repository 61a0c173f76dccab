"""How each kind of outbox message is delivered: scores to Moodle, emails to SMTP."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from flask import current_app

from lti_tool.extensions import db
from lti_tool.log_redaction import mask_email
from lti_tool.lti import ags, http
from lti_tool.lti.exceptions import ServiceError
from lti_tool.notifications.addresses import usable_address
from lti_tool.outbox.models import OutboxMessage
from lti_tool.outbox.service import Delivered, GiveUp, RetryLater, handler, minimiser
from lti_tool.platforms.models import Platform

SCORE = "ags.score"
EMAIL = "email"


@handler(SCORE)
def deliver_score(message: OutboxMessage, payload: dict[str, Any]) -> Delivered:
    platform = db.session.get(Platform, message.platform_id)
    if platform is None or not platform.active:
        raise GiveUp("the platform registration is missing or switched off")
    try:
        lineitem_url = payload.get("lineitem_url") or _find_line_item(platform, payload)
        reply = ags.post_score(platform, lineitem_url, payload["score"])
    except (http.FetchFailed, ServiceError) as exc:
        raise RetryLater(str(exc)) from exc
    except http.UnsafeURL as exc:
        raise GiveUp(str(exc)) from exc
    if reply.status in (200, 201, 202, 204):
        return Delivered()
    if reply.status == 409:
        # Moodle already holds a score at least as recent: this one (or a retry of it whose
        # answer was lost) is recorded, so it counts as delivered.
        return Delivered("Moodle already had this score (409)")
    if reply.status == 429 or reply.status >= 500:
        raise RetryLater(f"Moodle answered HTTP {reply.status}")
    raise GiveUp(f"Moodle refused the score (HTTP {reply.status}): {reply.text(300)}")


def _find_line_item(platform: Platform, payload: dict[str, Any]) -> str:
    """Moodle omits the ``lineitem`` claim once a link has two line items: look it up by
    the resource link, preferring the declaration item the tool created by deep linking."""
    if not payload.get("lineitems_url"):
        raise GiveUp("the activity has no grade item the tool can use")
    items = ags.list_line_items(platform, payload["lineitems_url"],
                                resource_link_id=payload["resource_link_id"])
    if not items:
        raise GiveUp("Moodle lists no grade item for this activity")
    tagged = [i for i in items if i.get("tag") == "aiu-declaration"]
    chosen = (tagged or items)[0]
    if not chosen.get("id"):
        raise GiveUp("Moodle's grade item has no id")
    return str(chosen["id"])


@handler(EMAIL)
def deliver_email(message: OutboxMessage, payload: dict[str, Any]) -> Delivered:
    cfg = current_app.config
    to = usable_address(payload.get("to"))
    if not to:
        # Queued before addresses were checked, or changed since: never send it anywhere.
        raise GiveUp("the email address Moodle gave for this person is not one valid "
                     "address, so it cannot be sent; they see the news in the tool (correct "
                     "the address in Moodle, then send it again)")
    email = EmailMessage()
    email["From"] = cfg["MAIL_FROM"]
    email["To"] = to
    email["Subject"] = payload["subject"]
    email["Message-ID"] = f"<aiu-outbox-{message.id}@{cfg['MAIL_MESSAGE_ID_DOMAIN']}>"
    email.set_content(payload["text"])
    if payload.get("html"):
        email.add_alternative(payload["html"], subtype="html")
    try:
        smtp_class = smtplib.SMTP_SSL if cfg["MAIL_USE_SSL"] else smtplib.SMTP
        with smtp_class(cfg["MAIL_SERVER"], int(cfg["MAIL_PORT"]),
                        timeout=float(cfg["MAIL_TIMEOUT"])) as smtp:
            if cfg["MAIL_USE_TLS"] and not cfg["MAIL_USE_SSL"]:
                smtp.starttls(context=ssl.create_default_context())
            if cfg.get("MAIL_USERNAME"):
                smtp.login(cfg["MAIL_USERNAME"], cfg.get("MAIL_PASSWORD") or "")
            smtp.send_message(email)
    except smtplib.SMTPRecipientsRefused as exc:
        raise GiveUp(f"the mail server refused the address {mask_email(to)}") from exc
    except smtplib.SMTPResponseException as exc:
        if 400 <= exc.smtp_code < 500:
            raise RetryLater(f"the mail server answered {exc.smtp_code}") from exc
        raise GiveUp(f"the mail server refused the message ({exc.smtp_code})") from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise RetryLater(f"the mail server could not be reached: {exc}") from exc
    return Delivered()


@minimiser(EMAIL)
def minimise_email(payload: dict[str, Any]) -> dict[str, Any]:
    """A delivered email keeps what the admin page and a subject-access export show: the
    masked address, subject and template (its times are the message's columns). Never its
    body: it held links that work as passwords (an answer link is valid for 14 days)."""
    return {"to": mask_email(str(payload.get("to") or "")),
            "subject": str(payload.get("subject") or ""),
            "template": str(payload.get("template") or "")}
