"""Keeps secrets out of every log line: id_tokens and other JWTs, bearer and access tokens,
client assertions, registration tokens and Moodle's ``sesskey`` (inside ``return_url``)."""

from __future__ import annotations

import logging
import re
from typing import Any

_PATTERNS = [
    (re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"), "[jwt]"),
    (re.compile(r"(?i)(sesskey=)[^&\s'\"]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(bearer\s+)[\w.~+/=-]+"), r"\1[redacted]"),
    (re.compile(r"(?i)((?:access_token|client_assertion|registration_token|id_token)"
                r"[\"']?\s*[=:]\s*[\"']?)[^&\s'\",}]+"), r"\1[redacted]"),
    (re.compile(r"(/lti/register/)[\w-]+"), r"\1[redacted]"),
]


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
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
