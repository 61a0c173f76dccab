"""The retention schedule: how long each kind of record is kept, and from when.

Defaults follow the typical UK periods (Jisc's schedule for student records, awarding
bodies' and JCQ practice; see the README's *Privacy and retention*). ``RETENTION`` in the
configuration overrides any of them; every other setting keeps its default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app


@dataclass(frozen=True)
class Rule:
    key: str
    label: str  # the kind of record, in plain words
    default: str
    starts: str  # the moment the period runs from
    action: str = "deleted"  # or "anonymised"


RULES: tuple[Rule, ...] = (
    Rule("case_upheld", "Incidents (cases) upheld", "6 years", "the case's last action"),
    Rule("case_not_upheld", "Incidents (cases) not upheld", "1 year",
         "the case's last action"),
    Rule("case_reported", "Incidents reported to an awarding body", "6 years",
         "the report to the awarding body"),
    Rule("declarations", "Declarations, authentications and comprehension answers",
         "1 year", "the end of the course (its last launch)"),
    Rule("awareness_events", "When the learner was made aware of the policy", "1 year",
         "the end of the course (its last launch)"),
    Rule("ai_requests", "AI-tool requests, ALS decisions and the learner's answers",
         "1 year", "the authorisation's expiry (or the request's last change when nothing "
         "was authorised)"),
    Rule("emails", "Emails sent (what remains after sending: masked address, subject)",
         "1 year", "sending (or the last attempt)"),
    Rule("people", "A person's name, email and Moodle ids", "1 year",
         "their last launch, once no other record about them is kept", action="anonymised"),
)
RULES_BY_KEY = {rule.key: rule for rule in RULES}

_PERIOD = re.compile(r"^\s*(\d+)\s*(year|day|hour)s?\s*$", re.IGNORECASE)


class ScheduleError(ValueError):
    """A retention setting that is not ``<n> years|days|hours``."""


def parse_period(text: str) -> tuple[int, str]:
    match = _PERIOD.match(str(text))
    if not match:
        raise ScheduleError(f"{text!r} is not a period: write it as '<n> years', "
                            "'<n> days' or '<n> hours'.")
    return int(match.group(1)), match.group(2).lower()


def add_period(moment: datetime, text: str) -> datetime:
    """``moment`` plus the period (calendar years: 29 February moves to 28 February)."""
    n, unit = parse_period(text)
    if unit == "hour":
        return moment + timedelta(hours=n)
    if unit == "day":
        return moment + timedelta(days=n)
    year = moment.year + n
    try:
        return moment.replace(year=year)
    except ValueError:
        return moment.replace(year=year, day=28)


def periods() -> dict[str, str]:
    """Every rule's period as configured (defaults filled in); raises :class:`ScheduleError`
    for an unknown kind or a badly written period."""
    configured = dict(current_app.config.get("RETENTION") or {})
    unknown = set(configured) - set(RULES_BY_KEY)
    if unknown:
        raise ScheduleError(f"LTI_TOOL_RETENTION names unknown kinds of record: "
                            f"{', '.join(sorted(unknown))} (known: "
                            f"{', '.join(RULES_BY_KEY)}).")
    result = {rule.key: str(configured.get(rule.key, rule.default)) for rule in RULES}
    for text in result.values():
        parse_period(text)
    return result


def due(key: str, start: datetime) -> datetime:
    return add_period(start, periods()[key])


def kept_on_erasure() -> set[str]:
    return {str(k) for k in current_app.config.get("RETENTION_KEPT_ON_ERASURE") or ()}


@dataclass(frozen=True)
class ScheduleLine:
    label: str
    period: str
    starts: str
    action: str


def describe() -> list[ScheduleLine]:
    """The schedule in words (admin page, privacy notice, README), with the fixed
    lifetimes of sign-in data."""
    cfg = current_app.config
    table = periods()
    lines = [ScheduleLine(rule.label, table[rule.key], rule.starts, rule.action)
             for rule in RULES]
    session_hours = int(cfg["PERMANENT_SESSION_LIFETIME"].total_seconds() // 3600)
    lines += [
        ScheduleLine("Sign-in state and one-time launch values (nonces)",
                     f"{max(int(cfg['LOGIN_STATE_TTL']) // 60, 1)} minutes", "the sign-in",
                     "deleted"),
        ScheduleLine("Sessions in the tool", f"{session_hours} hours", "the launch",
                     "deleted"),
        ScheduleLine("One-time keys of forms", "2 days", "the form was sent", "deleted"),
    ]
    return lines
