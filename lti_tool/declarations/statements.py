"""What a learner confirms, word for word: the statements of the pre-assignment declaration
(with the learner's own ALS authorisations written into them, so that nobody signs
something untrue) and the declaration of authentication made after submitting.

The words are stored with each record (``Declaration.statements``,
``Authentication.statement``): a receipt, a staff page or a case report shows what the
learner saw, even after this wording changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from lti_tool.declarations.models import Declaration
from lti_tool.extensions import db
from lti_tool.people.models import Person

NO_PERSONAL_DATA = "confirmed_no_personal_data"
NO_AI_AFTER_START = "confirmed_no_ai_after_start"
OWN_WORK = "confirmed_own_work"

_AFTER_START = ("I will not use AI once I start the assignment, including to check spelling "
                "and grammar, check my work meets the assessment criteria, compile "
                "references or citations, or reduce the word count")
_WORDS = {
    NO_PERSONAL_DATA: "I have not entered, and will not enter, company or personal data into "
                      "personal or public AI tools.",
    NO_AI_AFTER_START: _AFTER_START + ".",
    OWN_WORK: "The work I submit will be my own.",
}
# What receipts showed before the statements were stored with each declaration (their
# form had exactly these three confirmations and no exception for authorisations).
_LEGACY = [_WORDS[NO_PERSONAL_DATA], _WORDS[NO_AI_AFTER_START], _WORDS[OWN_WORK]]


@dataclass(frozen=True)
class Statement:
    key: str  # the form field that confirms it
    text: str


@dataclass(frozen=True)
class AuthorisedUse:
    """An ALS authorisation as the learner's statements quote it."""

    tool_name: str
    purpose: str
    conditions: str
    expires_on: date

    @property
    def label(self) -> str:
        conditions = self.conditions.strip().rstrip(".")
        return (f"{self.tool_name} — {self.purpose.strip().rstrip('.')}, conditions: "
                f"{conditions}, until {day(self.expires_on)}")


def day(moment: date | datetime) -> str:
    return moment.strftime("%d %B %Y").lstrip("0")


def confirmations(authorised: list[AuthorisedUse]) -> list[Statement]:
    """The three confirmations of a declaration. With authorisations, the promise not to use
    AI after starting names them as the exception, so that it is true."""
    after_start = _WORDS[NO_AI_AFTER_START]
    if authorised:
        after_start = (f"{_AFTER_START}, except as the ALS team authorised: "
                       + "; ".join(a.label for a in authorised) + ".")
    return [Statement(NO_PERSONAL_DATA, _WORDS[NO_PERSONAL_DATA]),
            Statement(NO_AI_AFTER_START, after_start),
            Statement(OWN_WORK, _WORDS[OWN_WORK])]


def to_json(statements: list[Statement], authorised: list[AuthorisedUse]) -> str:
    return json.dumps({"confirmed": [{"key": s.key, "text": s.text} for s in statements],
                       "authorised": [a.label for a in authorised]}, ensure_ascii=False)


def _stored(raw: str) -> dict[str, Any]:
    data = json.loads(raw or "[]")
    return data if isinstance(data, dict) else {}


def confirmed_texts(raw: str) -> list[str]:
    """The statements a declaration confirmed (``Declaration.statements``)."""
    stored = _stored(raw)
    return [s["text"] for s in stored["confirmed"]] if stored else list(_LEGACY)


def authorised_labels(raw: str) -> list[str] | None:
    """The authorisations written into a declaration, or None for one made before they
    were stored with it."""
    stored = _stored(raw)
    return list(stored["authorised"]) if stored else None


def authentication_text(declared_on: datetime, authorised: list[str]) -> str:
    """The declaration of authentication, bound to the declaration made on ``declared_on``."""
    text = (f"The work I submitted is my own. I used AI only as I declared on "
            f"{day(declared_on)}")
    if authorised:
        text += " and as the ALS team authorised: " + "; ".join(authorised)
    return text + "."


@dataclass(frozen=True)
class OfferedAuthorisation:
    id: int  # the approving decision
    use: AuthorisedUse

    @property
    def label(self) -> str:
        return self.use.label


def available_authorisations(person: Person,
                             placement_id: int | None) -> list[OfferedAuthorisation]:
    """The learner's approved, unexpired AI-tool authorisations for the assignment, as their
    declaration quotes them (identified by the approving decision)."""
    from lti_tool.requests.service import active_authorisations

    if placement_id is None:
        return []
    return [OfferedAuthorisation(a.decision_id, AuthorisedUse(
                a.tool_name, a.purpose, a.conditions, a.expires_on))
            for a in active_authorisations(person.id, placement_id=placement_id)]


def cited_authorisations(declaration: Declaration) -> list[str]:
    """The authorisations a declaration relied on, as the learner saw them."""
    from lti_tool.requests.models import AiToolRequest, RequestDecision

    stored = authorised_labels(declaration.statements)
    if stored is not None:
        return stored
    ids = json.loads(declaration.authorisation_ids)
    if not ids:
        return []
    rows = db.session.execute(
        sa.select(AiToolRequest.tool_name, RequestDecision.conditions)
        .join(RequestDecision, RequestDecision.request_id == AiToolRequest.id)
        .where(RequestDecision.id.in_(ids), AiToolRequest.person_id == declaration.person_id))
    return [f"{tool}: {conditions}" for tool, conditions in rows]


def use_labels(declaration: Declaration) -> list[str]:
    """The permitted uses a declaration names, in the words of the policy version it was made
    under (never the stored keys)."""
    keys = json.loads(declaration.permitted_uses)
    try:
        uses = json.loads(declaration.policy_version.content).get("permitted_uses", [])
        words = {str(u["key"]): str(u["text"]) for u in uses}
    except (ValueError, TypeError, KeyError, AttributeError):
        words = {}
    return [words.get(key, "A use no longer listed in the policy") for key in keys]
