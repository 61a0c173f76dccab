"""Keeps secrets and personal data out of every log line: id_tokens and other JWTs, bearer
and access tokens, client assertions, registration and answer-link tokens (also inside
paths), login state and Moodle's ``sesskey`` (inside ``return_url``); email addresses are
masked (``a@…``)."""

from __future__ import annotations

import logging
import re
from typing import Any

EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")

_PATTERNS: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"), "[jwt]"),
    (re.compile(r"(?i)(sesskey(?:=|%3D))[^&\s'\"]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(bearer\s+)[\w.~+/=-]+"), r"\1[redacted]"),
    (re.compile(r"(?i)((?:access_token|client_assertion|registration_token|id_token)"
                r"[\"']?\s*[=:]\s*[\"']?)[^&\s'\",}]+"), r"\1[redacted]"),
    # Query parameters that carry a secret, whatever the path.
    (re.compile(r"(?i)([?&](?:[\w-]*token|state|nonce|code|sig)=)[^&\s'\"]+"),
     r"\1[redacted]"),
    # Paths whose last part is the secret: registration invites and emailed answer links.
    (re.compile(r"(/lti/register/)[^/?#\s'\"]+"), r"\1[redacted]"),
    (re.compile(r"(/answer/)[^/?#\s'\"]+"), r"\1[redacted]"),
    (EMAIL, lambda m: mask_email(m.group(0))),
]


def mask_email(address: str) -> str:
    """``alice@example.org`` → ``a@…``: enough to tell people apart, not to write to them."""
    local = address.split("@", 1)[0]
    return f"{local[:1]}@…" if local else "@…"


def mask_emails(text: str) -> str:
    """Every email address in ``text`` masked (for pages such as the admin's)."""
    return EMAIL.sub(lambda m: mask_email(m.group(0)), text or "")


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


_installed = False


def install() -> None:
    """Wrap the log record factory once per process, so every logger (the tool's,
    werkzeug's, gunicorn's, libraries') is covered whatever handlers are configured."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed log call must not break logging
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # A traceback's message may quote what failed (an address, a token): the
            # formatter uses this cleaned text instead of formatting the exception again.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
