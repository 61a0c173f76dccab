"""Which email addresses the tool will send to: exactly one, well formed, nothing else.

The address comes from the launch's ``email`` claim (or Names and Roles), which the platform
fills from a field its users may edit: a list of addresses or a line break there must never
send a learner's answer link to someone else or inject mail headers.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def usable_address(raw: str | None) -> str:
    """``raw`` as one well-formed address to send to, or "" when it is not one (empty, a
    list, a display name, a line break, bad syntax): such a person gets no email and sees the
    news in the tool. Checks the syntax only (no DNS: the tool may have no internet)."""
    text = (raw or "").strip()
    if not text or len(text) > 254 or any(c in text for c in "\r\n,;<>"):
        return ""
    try:
        checked = validate_email(text, check_deliverability=False, allow_smtputf8=False,
                                 allow_display_name=False, allow_quoted_local=False,
                                 allow_domain_literal=False, test_environment=True)
    except EmailNotValidError:
        return ""
    return str(checked.ascii_email or checked.normalized)


def recipient_hash(address: str) -> str:
    """A keyed hash of ``address`` (case-insensitive) that stands for it in stored rows:
    equal for the same address, useless for guessing one without the secret key."""
    import hmac

    from flask import current_app

    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"recipient\0" + address.strip().lower().encode(),
                    "sha256").hexdigest()
