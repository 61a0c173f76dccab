"""Placement settings and declarations: the rules, the records and what they send Moodle."""

from __future__ import annotations

import json
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from lti_tool.audit import service as audit
from lti_tool.declarations import statements
from lti_tool.declarations.models import (
    Declaration,
    PlacementBinding,
    PlacementSettings,
)
from lti_tool.extensions import db
from lti_tool.gradesync.service import queue_declaration_grade
from lti_tool.people.models import Course, Person, Placement
from lti_tool.policy import service as policies
from lti_tool.policy.service import Policy

SETTINGS_PARAM = "aiu_settings"


class DeclarationError(ValueError):
    """The declaration breaks a rule; ``field`` names the form field it concerns."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class DeclarationConflict(RuntimeError):
    """Another declaration was saved for the same assignment at the same moment."""


# --- placement settings -------------------------------------------------------------------

@dataclass(frozen=True)
class EffectiveSettings:
    """What applies to a placement: its settings, or the defaults until a teacher sets it."""

    configured: bool
    title: str
    assignment_name: str
    qualification: str | None
    permitted_uses: list[str] | None  # None: every permitted use in the policy
    guidance: str
    settings_id: int | None = None
    placement_id: int | None = None
    comprehension_check: bool = False
    policy_reference: str | None = None  # None: the platform's policy


def create_settings(*, platform_id: int, course_id: int, created_by: int, title: str,
                    assignment_name: str, qualification: str, permitted_uses: Sequence[str],
                    guidance: str, policy: Policy, replaces_id: int | None = None,
                    comprehension_check: bool = False,
                    policy_reference: str | None = None) -> PlacementSettings:
    """Store a teacher's settings (validated against ``policy``: the one the settings
    name with ``policy_reference``, or the platform's when that is None)."""
    if policy.rules.awarding_body(qualification) is None:
        raise DeclarationError("qualification", gettext("Choose %(choices)s.", choices=gettext(
            " or ").join(name for _, name in policy.rules.awarding_body_choices)))
    known = {u.key for u in policy.permitted_uses}
    chosen = [u for u in permitted_uses if u in known]
    if not chosen or len(chosen) != len(set(permitted_uses)):
        raise DeclarationError("permitted_uses", gettext(
            "Choose at least one of the policy's permitted uses."))
    settings = PlacementSettings(
        token=secrets.token_urlsafe(16), platform_id=platform_id, course_id=course_id,
        title=title.strip(), assignment_name=assignment_name.strip(),
        qualification=qualification, permitted_uses=json.dumps(chosen),
        guidance=guidance.strip(), created_by=created_by, replaces_id=replaces_id,
        comprehension_check=comprehension_check, policy_reference=policy_reference)
    db.session.add(settings)
    db.session.flush()
    audit.record(f"person:{created_by}", "placement_settings.created", "placement_settings",
                 settings.id, {"title": settings.title, "qualification": qualification,
                               "permitted_uses": chosen,
                               "comprehension_check": comprehension_check,
                               "policy_reference": policy_reference})
    return settings


def bind(placement: Placement, settings: PlacementSettings, actor: str) -> None:
    binding = db.session.get(PlacementBinding, placement.id)
    if binding is not None and binding.settings_id == settings.id:
        return
    if binding is None:
        db.session.add(PlacementBinding(placement_id=placement.id, settings_id=settings.id))
    else:
        binding.settings_id = settings.id
    db.session.flush()
    audit.record(actor, "placement.settings_bound", "placement", placement.id,
                 {"settings_id": settings.id})


def bind_from_launch(placement_id: int | None, platform_id: int,
                     custom: dict[str, Any], actor: str) -> None:
    """A deep-linked activity carries its settings token as a custom parameter: bind the
    placement to those settings on its first launch (and after a course copy)."""
    token = custom.get(SETTINGS_PARAM)
    if placement_id is None or not isinstance(token, str) or not token:
        return
    binding = db.session.get(PlacementBinding, placement_id)
    if binding is not None:
        return
    settings = db.session.scalar(sa.select(PlacementSettings).where(
        PlacementSettings.token == token, PlacementSettings.platform_id == platform_id))
    placement = db.session.get(Placement, placement_id)
    if settings is not None and placement is not None:
        bind(placement, settings, actor)


def effective_settings(placement: Placement) -> EffectiveSettings:
    binding = db.session.get(PlacementBinding, placement.id)
    if binding is None:
        return EffectiveSettings(False, placement.display_name, "", None, None, "",
                                 placement_id=placement.id)
    s = binding.settings
    return EffectiveSettings(True, s.title, s.assignment_name, s.qualification,
                             json.loads(s.permitted_uses), s.guidance, s.id, placement.id,
                             s.comprehension_check, s.policy_reference)


def placement_policy(placement: Placement,
                     settings: EffectiveSettings | None = None) -> Policy:
    """The policy a placement's learners declare under: the one its settings name, else
    the platform's (:func:`lti_tool.policy.service.for_placement`)."""
    settings = settings or effective_settings(placement)
    return policies.for_placement(settings.policy_reference, placement.course.platform_id)


# --- declarations ------------------------------------------------------------------------

@dataclass(frozen=True)
class DeclarationInput:
    uses_ai: bool
    permitted_uses: list[str]
    ai_tools: list[str]
    confirmed_no_personal_data: bool
    confirmed_no_ai_after_start: bool
    confirmed_own_work: bool
    signature: str
    authorisation_ids: list[int] = field(default_factory=list)


def _normalise_name(name: str) -> str:
    folded = unicodedata.normalize("NFKC", name).casefold()
    return " ".join(folded.replace(".", " ").split())


def parse_tools(text: str) -> list[str]:
    """AI tools typed one per line or separated by commas, de-duplicated, in order."""
    seen: list[str] = []
    for part in text.replace(",", "\n").splitlines():
        name = " ".join(part.split())[:100]
        if name and name.casefold() not in (s.casefold() for s in seen):
            seen.append(name)
    return seen


def check(data: DeclarationInput, person: Person, settings: EffectiveSettings,
          policy: Policy, authorisations: list[statements.OfferedAuthorisation] | None = None
          ) -> list[DeclarationError]:
    """Every rule a declaration must meet, all at once; an empty list means it may be
    saved. ``authorisations``: the learner's active ones (looked up when None) — a
    declaration can only rely on those."""
    errors: list[DeclarationError] = []
    allowed = {u.key for u in policy.permitted(settings.permitted_uses)}
    if data.uses_ai:
        if not data.permitted_uses:
            errors.append(DeclarationError("permitted_uses", gettext(
                "Choose what you used, or will use, AI for.")))
        elif not set(data.permitted_uses) <= allowed:
            errors.append(DeclarationError("permitted_uses", gettext(
                "Choose only uses this assignment allows.")))
        if not data.ai_tools:
            errors.append(DeclarationError("ai_tools", gettext(
                "Name the AI tool or tools, for example ChatGPT or Copilot.")))
        elif len(data.ai_tools) > 20:
            errors.append(DeclarationError("ai_tools", gettext("Name at most 20 AI tools.")))
    elif data.permitted_uses or data.ai_tools:
        errors.append(DeclarationError("uses_ai", gettext(
            "You said you will not use AI: clear the uses and tools, or choose 'Yes'.")))
    for name, ok, message in (
        ("confirmed_no_personal_data", data.confirmed_no_personal_data,
         gettext("Confirm that you have not entered, and will not enter, company or personal "
                 "data into public AI tools.")),
        ("confirmed_no_ai_after_start", data.confirmed_no_ai_after_start,
         gettext("Confirm that you will not use AI once you start the assignment.")),
        ("confirmed_own_work", data.confirmed_own_work,
         gettext("Confirm that the work you submit will be your own.")),
    ):
        if not ok:
            errors.append(DeclarationError(name, message))
    if data.authorisation_ids:
        if authorisations is None:
            authorisations = statements.available_authorisations(person,
                                                                 settings.placement_id)
        held = {a.id for a in authorisations}
        if not set(data.authorisation_ids) <= held:
            errors.append(DeclarationError("authorisations", gettext(
                "You can only rely on an authorisation the ALS team gave you for this "
                "assignment.")))
    problem = signature_problem(data.signature, person)
    if problem:
        errors.append(DeclarationError("signature", problem))
    return errors


def signature_problem(typed: str, person: Person) -> str | None:
    """Why a typed signature is not acceptable, or None. Names are compared ignoring case,
    spacing and full stops (the record keeps what was typed)."""
    signature = " ".join(typed.split())
    if not signature:
        return gettext("Type your full name to sign.")
    if len(signature) > 200:
        return gettext("Your name must be 200 characters or fewer.")
    if person.display_name and person.name and \
            _normalise_name(signature) != _normalise_name(person.name):
        return gettext("Type your full name as Moodle knows it: %(name)s.", name=person.name)
    return None


def history(person_id: int, placement_id: int) -> list[Declaration]:
    """Every declaration the learner made for this placement, newest first."""
    return list(db.session.scalars(
        sa.select(Declaration)
        .where(Declaration.person_id == person_id, Declaration.placement_id == placement_id)
        .order_by(Declaration.id.desc())))


def histories(person_id: int) -> list[tuple[Placement, list[Declaration]]]:
    """Every placement the learner declared for on the platform, each with its declarations
    newest first (most recently declared placement first); two queries."""
    by_placement: dict[int, list[Declaration]] = {}
    for declaration in db.session.scalars(
            sa.select(Declaration).where(Declaration.person_id == person_id)
            .options(selectinload(Declaration.placement).selectinload(Placement.course))
            .order_by(Declaration.id.desc())):
        by_placement.setdefault(declaration.placement_id, []).append(declaration)
    return [(found[0].placement, found) for found in by_placement.values()]


def latest(person_id: int, placement_id: int) -> Declaration | None:
    return db.session.scalar(
        sa.select(Declaration)
        .where(Declaration.person_id == person_id, Declaration.placement_id == placement_id)
        .order_by(Declaration.id.desc()).limit(1))


def declare(person: Person, placement: Placement, data: DeclarationInput,
            policy: Policy, *, at: datetime | None = None,
            comprehension: str | None = None) -> Declaration:
    """Save a declaration (a new version if one exists) and queue the gradebook score.

    Raises the first :class:`DeclarationError` if a rule is broken (nothing is written),
    or :class:`DeclarationConflict` if another declaration was saved at the same moment.
    """
    settings = effective_settings(placement)
    authorisations = statements.available_authorisations(person, placement.id)
    errors = check(data, person, settings, policy, authorisations)
    if errors:
        raise errors[0]
    authorised = [a.use for a in authorisations]
    previous = latest(person.id, placement.id)
    declaration = Declaration(
        person_id=person.id, placement_id=placement.id, policy_version_id=policy.id,
        settings_id=settings.settings_id, uses_ai=data.uses_ai,
        permitted_uses=json.dumps(sorted(data.permitted_uses) if data.uses_ai else []),
        ai_tools=json.dumps(data.ai_tools if data.uses_ai else []),
        # Every authorisation the learner holds is written into what they confirm.
        authorisation_ids=json.dumps(sorted(a.id for a in authorisations)),
        confirmed_no_personal_data=True, confirmed_no_ai_after_start=True,
        confirmed_own_work=True, signature=data.signature.strip(),
        statements=statements.to_json(
            statements.confirmations(authorised, policy.declaration_statements), authorised),
        comprehension=comprehension, supersedes_id=previous.id if previous else None,
    )
    if at is not None:
        declaration.created_at = at
    try:
        with db.session.begin_nested():
            db.session.add(declaration)
    except IntegrityError as exc:
        raise DeclarationConflict("another declaration was saved at the same moment") from exc
    audit.record(f"person:{person.id}", "declaration.made", "declaration", declaration.id,
                 {"placement_id": placement.id, "policy": policy.label,
                  "supersedes": declaration.supersedes_id, "uses_ai": data.uses_ai})
    queue_declaration_score(person, placement, declaration, policy,
                            at=declaration.created_at)
    _email_receipt(person, declaration, settings, policy)
    return declaration


def _email_receipt(person: Person, declaration: Declaration, settings: EffectiveSettings,
                   policy: Policy) -> None:
    """The learner's copy of what they declared (when Moodle shares their email)."""
    from lti_tool.notifications.service import link_to, send_email, tool_path

    placement = db.session.get(Placement, declaration.placement_id)
    link = link_to(person, tool_path("learner.receipt", declaration_id=declaration.id),
                   placement)
    # Its own ordering key: a receipt held up by the mail server never holds up the
    # learner's other emails (an incident question must not wait behind it).
    send_email(person.email, gettext("Your AI use declaration: %(title)s", title=settings.title),
               "declaration_receipt", platform_id=person.platform_id,
               ordering_key=f"email:receipt:{declaration.id}", learner=person,
               declaration=declaration, settings=settings, policy=policy,
               uses=policy.permitted(json.loads(declaration.permitted_uses)),
               tools=json.loads(declaration.ai_tools),
               confirmed=statements.confirmed_texts(declaration.statements), link=link)


def queue_declaration_score(person: Person, placement: Placement, declaration: Declaration,
                            policy: Policy, *, at: datetime | None = None) -> None:
    """Queue 1/1 with the declaration's feedback line for Moodle's gradebook (the feedback
    keeps whatever the case process shows there: see the README)."""
    queue_declaration_grade(person, placement, declaration, policy, at=at)


@dataclass(frozen=True)
class PlacementDeclaration:
    declaration: Declaration
    placement: Placement
    course: Course


def latest_by_placement(person_id: int) -> list[PlacementDeclaration]:
    """The person's current declaration in every placement (all courses), newest first."""
    newer = sa.orm.aliased(Declaration)
    stmt = (sa.select(Declaration, Placement, Course)
            .join(Placement, Placement.id == Declaration.placement_id)
            .join(Course, Course.id == Placement.course_id)
            .where(Declaration.person_id == person_id,
                   ~sa.select(newer.id).where(newer.supersedes_id == Declaration.id).exists())
            .order_by(Declaration.created_at.desc()))
    return [PlacementDeclaration(d, p, c) for d, p, c in db.session.execute(stmt)]


# --- status and the staff view -----------------------------------------------------------

@dataclass(frozen=True)
class LearnerStatus:
    state: str  # "none", "current", "outdated"
    latest: Declaration | None

    @property
    def declared(self) -> bool:
        return self.state == "current"


def status(latest_declaration: Declaration | None, policy: Policy) -> LearnerStatus:
    if latest_declaration is None:
        return LearnerStatus("none", None)
    if latest_declaration.policy_version_id != policy.id:
        return LearnerStatus("outdated", latest_declaration)
    return LearnerStatus("current", latest_declaration)
