"""A learner's stage under a policy, read from the stage ledger (read-only: the gradebook
wording in :mod:`lti_tool.gradesync.wording` reads it too).

A learner has one ledger per policy their cases are decided under, or per policy and
qualification when the policy counts per qualification (``counting.scope``): an upheld case
in an apprenticeship under one policy does not move the learner's stage in a commercial
course under another. A placement's ledger follows from the policy it uses and its
qualification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext

from lti_tool.cases.models import Incident, StageLedgerEntry
from lti_tool.extensions import db
from lti_tool.people.models import Person, Placement
from lti_tool.policy.rules import SCOPE_QUALIFICATION, Rules, Stage
from lti_tool.policy.service import Policy


@dataclass(frozen=True)
class Ledger:
    """Where a case's upheld decision is counted."""

    key: str  # the policy's reference, plus "/<qualification>" when counted per qualification
    policy: Policy
    qualification: str | None

    @property
    def rules(self) -> Rules:
        return self.policy.rules

    @property
    def per_qualification(self) -> bool:
        return self.rules.counting.scope == SCOPE_QUALIFICATION

    @property
    def qualification_name(self) -> str:
        body = self.rules.awarding_body(self.qualification)
        return body.short_name if body else (self.qualification or "")


def ledger_key(policy: Policy, qualification: str | None) -> str:
    if policy.rules.counting.scope == SCOPE_QUALIFICATION:
        return f"{policy.reference}/{qualification or '-'}"
    return policy.reference


def placement_ledger_key(placement: Placement, policy: Policy) -> str:
    """The key of ``placement``'s ledger when its policy is known (a query only when the
    policy counts per qualification)."""
    if policy.rules.counting.scope != SCOPE_QUALIFICATION:
        return policy.reference
    from lti_tool.declarations.service import effective_settings

    return ledger_key(policy, effective_settings(placement).qualification)


def placement_ledger(placement: Placement) -> Ledger:
    """The ledger a case in ``placement`` counts in: its policy, and its qualification."""
    from lti_tool.declarations.service import effective_settings, placement_policy

    settings = effective_settings(placement)
    policy = placement_policy(placement, settings)
    return Ledger(ledger_key(policy, settings.qualification), policy, settings.qualification)


def case_ledger(incident: Incident) -> Ledger:
    return placement_ledger(incident.placement)


def case_policy(incident: Incident) -> Policy:
    """The policy a case is handled under: its placement's."""
    from lti_tool.declarations.service import placement_policy

    return placement_policy(incident.placement)


@dataclass(frozen=True)
class Standing:
    """A learner's position in one ledger."""

    upheld: int  # upheld incidents counted so far (not withdrawn)
    stage: int  # 0 (none), else the stage of the latest
    since: datetime | None  # when the latest upheld incident was recorded
    rules: Rules
    qualification: str | None = None  # its name, when the policy counts per qualification

    @property
    def per_qualification(self) -> bool:
        return self.qualification is not None

    @property
    def scope_text(self) -> str:
        """Where the count runs, for staff: "Stage 2 across all courses"."""
        if self.qualification is None:
            return gettext("across all courses")
        return gettext("in the %(qualification)s qualification",
                       qualification=self.qualification).replace("  ", " ")

    @property
    def learner_scope_text(self) -> str:
        """The same for the learner: "your Stage 2 across all your courses"."""
        if self.qualification is None:
            return gettext("across all your courses")
        return gettext("in your %(qualification)s qualification",
                       qualification=self.qualification).replace("  ", " ")

    @property
    def last_stage(self) -> int:
        return self.rules.last_stage

    @property
    def next(self) -> Stage:
        """The stage the next upheld incident gets."""
        return self.rules.stage_for(self.upheld + 1)

    @property
    def next_stage(self) -> int:
        return self.next.number

    @property
    def next_is_repeat(self) -> bool:
        """The next upheld incident would be the last stage again (repeated misuse)."""
        return self.upheld >= len(self.rules.stages)

    @property
    def current(self) -> Stage | None:
        return self.rules.stage_for(self.upheld) if self.upheld else None


def standing_in(person: Person, ledger: Ledger) -> Standing:
    entries = list(db.session.execute(
        sa.select(StageLedgerEntry.ordinal, StageLedgerEntry.assigned_at)
        .where(StageLedgerEntry.learner_id == person.id,
               StageLedgerEntry.ledger_key == ledger.key,
               StageLedgerEntry.revoked_at.is_(None))
        .order_by(StageLedgerEntry.ordinal)))
    upheld = len(entries)
    rules = ledger.rules
    return Standing(upheld, rules.stage_for(upheld).number if upheld else 0,
                    entries[-1][1] if entries else None, rules,
                    ledger.qualification_name if ledger.per_qualification else None)


def placement_standing(person: Person, placement: Placement) -> Standing:
    """The learner's stage in the ledger a case in ``placement`` would count in."""
    return standing_in(person, placement_ledger(placement))


def case_standing(incident: Incident) -> Standing:
    return standing_in(incident.learner, case_ledger(incident))
