"""A learner's stage under the policy, read from the stage ledger (read-only: the gradebook
wording in :mod:`lti_tool.gradesync.wording` reads it too)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from lti_tool.cases.models import StageLedgerEntry
from lti_tool.extensions import db
from lti_tool.people.models import Person

MAX_STAGE = 3


@dataclass(frozen=True)
class Standing:
    """A learner's position under the policy, platform-wide."""

    upheld: int  # upheld incidents so far (not withdrawn)
    stage: int  # 0 (none) to 3
    since: datetime | None  # when the latest upheld incident was recorded

    @property
    def next_stage(self) -> int:
        return min(self.upheld + 1, MAX_STAGE)

    @property
    def next_is_repeat(self) -> bool:
        """The next upheld incident would be Stage 3 again (repeated misuse)."""
        return self.upheld >= MAX_STAGE


def standing(person: Person) -> Standing:
    entries = list(db.session.execute(
        sa.select(StageLedgerEntry.ordinal, StageLedgerEntry.assigned_at)
        .where(StageLedgerEntry.learner_id == person.id, StageLedgerEntry.revoked_at.is_(None))
        .order_by(StageLedgerEntry.ordinal)))
    upheld = len(entries)
    return Standing(upheld, min(upheld, MAX_STAGE), entries[-1][1] if entries else None)
