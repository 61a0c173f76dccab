"""The declaration of authentication: once they have submitted the assignment, the learner
declares that the work is their own and that they used AI only as they declared before
starting (and as authorised). Bound to that declaration and its policy version; recorded
once per declaration, never changed; Moodle's gradebook feedback says so (the grade stays
1/1, so the assignment gate stays open)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError

from lti_tool.audit import service as audit
from lti_tool.declarations import statements
from lti_tool.declarations.models import Authentication, Declaration
from lti_tool.extensions import db
from lti_tool.people.models import Person, Placement
from lti_tool.policy.service import Policy


class AuthenticationError(ValueError):
    """The authentication cannot be recorded; ``field`` names the form field it concerns."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def statement_for(declaration: Declaration) -> str:
    """What the learner declares about the work, bound to ``declaration``."""
    return statements.authentication_text(declaration.created_at,
                                          statements.cited_authorisations(declaration))


def authentication_of(declaration: Declaration) -> Authentication | None:
    return db.session.scalar(sa.select(Authentication).where(
        Authentication.declaration_id == declaration.id))


def authentications_for(declaration_ids: Collection[int]) -> dict[int, Authentication]:
    """The authentications of several declarations, by declaration id (one query)."""
    if not declaration_ids:
        return {}
    return {a.declaration_id: a for a in db.session.scalars(sa.select(Authentication).where(
        Authentication.declaration_id.in_(list(declaration_ids))))}


def check(person: Person, declaration: Declaration | None, *, confirmed: bool,
          signature: str) -> list[AuthenticationError]:
    """Every problem with an authentication, all at once."""
    from lti_tool.declarations.service import signature_problem

    errors: list[AuthenticationError] = []
    if declaration is None:
        errors.append(AuthenticationError("confirmed", gettext(
            "Make your declaration first: the authentication confirms it.")))
    elif authentication_of(declaration) is not None:
        errors.append(AuthenticationError("confirmed", gettext(
            "You have already authenticated your work for this declaration.")))
    if not confirmed:
        errors.append(AuthenticationError("confirmed", gettext(
            "Confirm that the work you submitted is your own.")))
    problem = signature_problem(signature, person)
    if problem:
        errors.append(AuthenticationError("signature", problem))
    return errors


def authenticate(person: Person, placement: Placement, declaration: Declaration | None,
                 policy: Policy, *, confirmed: bool, signature: str) -> Authentication:
    """Record the authentication of ``declaration`` (the learner's latest for the
    placement) and queue the gradebook feedback that says so. Raises the first
    :class:`AuthenticationError` (nothing is written)."""
    from lti_tool.declarations.service import queue_declaration_score

    errors = check(person, declaration, confirmed=confirmed, signature=signature)
    if errors:
        raise errors[0]
    if declaration is None:  # check() refuses this case first; this narrows the type
        raise ValueError("an authentication needs a declaration")
    record = Authentication(declaration_id=declaration.id, person_id=person.id,
                            placement_id=placement.id,
                            policy_version_id=declaration.policy_version_id,
                            statement=statement_for(declaration),
                            signature=signature.strip())
    try:
        with db.session.begin_nested():
            db.session.add(record)
    except IntegrityError as exc:
        raise AuthenticationError("confirmed", gettext(
            "You have already authenticated your work for this declaration.")) from exc
    audit.record(f"person:{person.id}", "declaration.authenticated", "declaration",
                 declaration.id, {"authentication_id": record.id,
                                  "policy_version_id": declaration.policy_version_id})
    queue_declaration_score(person, placement, declaration, policy, at=record.created_at)
    return record


def case_lines(person_id: int, placement_id: int, before: datetime) -> list[str]:
    """Section C of a case report: the declaration in force at ``before`` (when the
    incident was raised), what it confirmed, and whether the declaration of authentication
    was made and signed."""
    declaration = db.session.scalar(
        sa.select(Declaration).where(Declaration.person_id == person_id,
                                     Declaration.placement_id == placement_id,
                                     Declaration.created_at <= before)
        .order_by(Declaration.id.desc()).limit(1))
    if declaration is None:
        return [gettext("No declaration had been made for this assignment.")]
    lines = [gettext("Declared before starting on %(at)s UTC under policy %(policy)s, signed "
                     "\u201c%(signature)s\u201d (declaration %(id)s).",
                     at=format(declaration.created_at, "%Y-%m-%d %H:%M"),
                     policy=declaration.policy_version.label, signature=declaration.signature,
                     id=declaration.id)]
    lines += [gettext("Confirmed: %(text)s", text=text)
              for text in statements.confirmed_texts(declaration.statements)]
    done = authentication_of(declaration)
    if done is None:
        lines.append(gettext("Declaration of authentication: not made."))
    else:
        lines.append(gettext("Declaration of authentication signed \u201c%(signature)s\u201d on "
                             "%(at)s UTC: %(statement)s", signature=done.signature,
                             at=format(done.created_at, "%Y-%m-%d %H:%M"),
                             statement=done.statement))
    return lines
