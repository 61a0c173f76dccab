"""The tool's role model, mapped from the role URIs Moodle sends.

Moodle sends ``membership#Learner`` for students, ``membership#Instructor`` for editing and
non-editing teachers alike, and adds ``institution/person#Administrator`` and
``system/person#Administrator`` for site admins. The tool keeps three roles, ranked.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from flask import current_app

from lti_tool.dbtypes import utcnow

LEARNER = "learner"
STAFF = "staff"
ADMIN = "admin"
RANK = {LEARNER: 1, STAFF: 2, ADMIN: 3}

_LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
ADMIN_ROLES = {
    _LIS + "institution/person#Administrator",
    _LIS + "system/person#Administrator",
    _LIS + "membership#Administrator",
}
STAFF_ROLES = {
    _LIS + "membership#Instructor",
    _LIS + "membership/Instructor#TeachingAssistant",
    _LIS + "membership#ContentDeveloper",
    _LIS + "membership#Mentor",
    "Instructor",
}
LEARNER_ROLES = {_LIS + "membership#Learner", "Learner"}


def role_from_claims(roles: Iterable[str]) -> str | None:
    """The highest tool role the role URIs grant, or None if they grant none."""
    found = set(roles)
    if found & ADMIN_ROLES:
        return ADMIN
    if found & STAFF_ROLES:
        return STAFF
    if found & LEARNER_ROLES:
        return LEARNER
    return None


def at_least(role: str | None, needed: str) -> bool:
    return role is not None and RANK.get(role, 0) >= RANK[needed]


def confirmation_cutoff(now: datetime | None = None) -> datetime:
    """The oldest confirmation by Moodle that still counts: a course role (or a site
    administrator's standing) last confirmed before this no longer gives any access
    (setting ``COURSE_ROLE_MAX_AGE_HOURS``)."""
    hours = float(current_app.config["COURSE_ROLE_MAX_AGE_HOURS"])
    return (now or utcnow()) - timedelta(hours=hours)
