"""What keeps a decision fair, checked before anything is written: the learner's chance to
answer (decide without it only after the deadline or once they said they will not answer,
always with a reason), reasons for an upheld finding, the evidence relied on (never an
AI-checker result alone), poor academic practice only where the policy data allows it, and
the learner's authorisations, adjustments and declarations in front of the decider.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext, lazy_gettext

from lti_tool.cases.answers import answer_of
from lti_tool.cases.checks import CHECK_OUTCOMES, checks_of
from lti_tool.cases.errors import IncidentError
from lti_tool.cases.evidence import evidence_of
from lti_tool.cases.models import (
    AWAITING_ANSWER,
    EVIDENCE_DETECTION,
    FINDINGS,
    NOT_UPHELD,
    POOR_PRACTICE,
    UPHELD,
    Incident,
)
from lti_tool.cases.standing import case_standing
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.policy.service import Policy

FINDING_LABELS = {
    UPHELD: lazy_gettext("Upheld"),
    NOT_UPHELD: lazy_gettext("Not upheld"),
    POOR_PRACTICE: lazy_gettext("Poor academic practice"),
}
ANSWER_SOURCE = "answer"


@dataclass(frozen=True)
class Finding:
    """The decision form's content. ``relied_on`` holds keys of :func:`sources`."""

    outcome: str
    reasons: str  # why this outcome
    account_reasons: str = ""  # why the learner's account was or was not accepted
    relied_on: tuple[str, ...] = ()
    without_answer_reason: str = ""
    acknowledged: bool = False


@dataclass(frozen=True)
class Source:
    """A piece of the case a decision can rely on; ``independent`` unless it is an
    AI-checker result."""

    key: str
    label: str
    independent: bool


def sources(incident: Incident) -> list[Source]:
    """What a decision can rely on: the evidence items, the checks done (with their
    outcome) and the learner's own account."""
    found = [Source(f"evidence:{e.id}", e.label if e.kind != EVIDENCE_DETECTION else
                    f"{e.label}: {e.text}", e.kind != EVIDENCE_DETECTION)
             for e in evidence_of(incident)]
    found += [Source(f"check:{c.id}", gettext(
        "%(method)s on %(date)s: %(outcome)s", method=c.method.capitalize(),
        date=c.done_on.strftime("%d %B %Y"), outcome=CHECK_OUTCOMES.get(c.outcome or "")),
        True) for c in checks_of(incident) if c.done and c.done_on]
    if answer_of(incident) is not None:
        found.append(Source(ANSWER_SOURCE, gettext("The learner's own account (their "
                                                   "answer)"), True))
    return found


def may_decide_without_answer(incident: Incident, now: datetime | None = None) -> bool:
    """Only after the learner's deadline, or once they said they will not answer."""
    now = now or utcnow()
    return incident.declined_at is not None or (
        incident.answer_due_at is not None and incident.answer_due_at <= now)


def poor_practice_allowed(incident: Incident, policy: Policy) -> bool:
    """Whether the policy data lets this case be found poor academic practice: for the
    learner's first case (the default: no upheld case and no earlier poor practice), for
    any case, or never."""
    when = policy.case_process.poor_academic_practice
    if when == "any_case":
        return True
    if when != "first_case":
        return False
    earlier = db.session.scalar(sa.select(sa.func.count()).select_from(Incident).where(
        Incident.learner_id == incident.learner_id, Incident.id != incident.id,
        Incident.outcome == POOR_PRACTICE))
    return case_standing(incident).upheld == 0 and not earlier


@dataclass(frozen=True)
class DecisionContext:
    """What the decider must see: authorisations and adjustments (named by what they
    cover, never the learner's medical detail), the declarations for this assignment, and
    the warnings to acknowledge."""

    authorisations: list[str] = field(default_factory=list)
    declarations: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def decision_context(incident: Incident) -> DecisionContext:
    from lti_tool.declarations.service import history
    from lti_tool.policy.service import by_id
    from lti_tool.requests.models import ACCESSIBILITY, AiToolRequest
    from lti_tool.requests.service import active_authorisations

    held = active_authorisations(incident.learner_id, placement_id=incident.placement_id)
    reasons = dict(db.session.execute(sa.select(AiToolRequest.id, AiToolRequest.reason).where(
        AiToolRequest.id.in_([a.request_id for a in held]))).all()) if held else {}
    authorisations = [
        (gettext("Has a reasonable adjustment covering %(tool)s (%(applies_to)s, until "
                 "%(date)s)", tool=a.tool_name, applies_to=a.applies_to,
                 date=a.expires_on.strftime("%d %B %Y"))
         if reasons.get(a.request_id) == ACCESSIBILITY else
         gettext("Has an authorisation covering %(tool)s (%(applies_to)s, until %(date)s)",
                 tool=a.tool_name, applies_to=a.applies_to,
                 date=a.expires_on.strftime("%d %B %Y"))) for a in held]
    declarations = []
    declared_use = False
    for declaration in history(incident.learner_id, incident.placement_id):
        policy = by_id(declaration.policy_version_id)
        when = declaration.created_at.strftime("%d %B %Y")
        if declaration.uses_ai and policy is not None:
            declared_use = True
            uses = "; ".join(u.plain for u in policy.permitted(
                json.loads(declaration.permitted_uses)))
            tools = ", ".join(json.loads(declaration.ai_tools)) or gettext("no tool named")
            declarations.append(gettext("Declared on %(date)s: uses AI to %(uses)s (%(tools)s)",
                                        date=when, uses=uses, tools=tools))
        else:
            declarations.append(gettext("Declared on %(date)s: no AI use", date=when))
    warnings = []
    if authorisations:
        warnings.append(gettext("The learner holds an authorisation or adjustment covering AI use "
                                "for this assignment: check that the use in question is not the "
                                "one it allows."))
    if declared_use:
        warnings.append(gettext("The learner declared AI use for this assignment: check whether "
                                "the use in question is the one they declared."))
    return DecisionContext(authorisations, declarations, warnings)


def check_finding(incident: Incident, finding: Finding, policy: Policy,
                  now: datetime | None = None) -> None:
    """Every rule a decision must meet, writing nothing; raises :class:`IncidentError`
    naming the form field. The caller re-checks under the lock."""
    if finding.outcome not in FINDINGS:
        raise IncidentError("outcome", gettext("Choose the finding."))
    if not finding.reasons.strip():
        raise IncidentError("reasons", gettext("Give the reasons for your decision."))
    if finding.outcome == POOR_PRACTICE and not poor_practice_allowed(incident, policy):
        raise IncidentError("outcome", gettext("Poor academic practice is not available for this "
                                               "case under the policy (it is for a learner's first "
                                               "case)."))
    if incident.state == AWAITING_ANSWER:
        if not may_decide_without_answer(incident, now):
            if incident.answer_due_at:
                raise IncidentError("without_answer", gettext(
                    "The learner has not answered yet. You can decide without their answer "
                    "only after %(date)s, or once they have said they will not answer.",
                    date=incident.answer_due_at.strftime("%d %B %Y")))
            raise IncidentError("without_answer", gettext(
                "The learner has not answered yet. You can decide without their answer only "
                "after the deadline, or once they have said they will not answer."))
        if not finding.without_answer_reason.strip():
            raise IncidentError("without_answer_reason", gettext("Give the reason for deciding "
                                                                 "without the learner's answer."))
    if finding.outcome == NOT_UPHELD:
        return
    available = {s.key: s for s in sources(incident)}
    relied = [available[k] for k in finding.relied_on if k in available]
    if finding.outcome == UPHELD:
        if not relied:
            raise IncidentError("relied_on", gettext("Choose the evidence you relied on."))
        if not finding.account_reasons.strip():
            raise IncidentError("account_reasons", gettext("Say why the learner's account was or "
                                                           "was not accepted."))
        if not any(s.independent for s in relied):
            raise IncidentError("relied_on", gettext("An AI-checker result alone cannot uphold a "
                                                     "case: rely on at least one independent kind "
                                                     "of evidence (a check's outcome, a specific "
                                                     "observation, or the learner's own account)."))
    if decision_context(incident).warnings and not finding.acknowledged:
        raise IncidentError("acknowledged", gettext("Confirm you have considered the learner's "
                                                    "authorisations, adjustments and "
                                                    "declarations."))
