"""The case's append-only events (each with its audit record) and the row lock a step takes
before it checks the case's state."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lti_tool.audit import service as audit
from lti_tool.cases.models import (
    Incident,
    IncidentEvent,
)
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.people.models import Person

# Free text (what people wrote) stays in the case's own events, out of the audit trail.
_PRIVATE = ("text", "answer", "notes", "reasons", "observations", "account_reasons",
            "without_answer_reason", "withheld_reason", "reason", "about", "preparation",
            "subject_knowledge", "production")


def _actor(person: Person | None) -> str:
    return f"person:{person.id}" if person is not None else "system"


def append_event(incident: Incident, kind: str, actor: Person | None, data: dict[str, Any],
                 at: datetime | None = None) -> IncidentEvent:
    """Append an event (the incident must be locked or new) and its audit record."""
    incident.last_seq += 1
    event = IncidentEvent(incident_id=incident.id, seq=incident.last_seq, kind=kind,
                          at=at or utcnow(), actor_id=actor.id if actor else None,
                          actor=_actor(actor),
                          data=json.dumps(data, sort_keys=True, ensure_ascii=False,
                                          default=str))
    db.session.add(event)
    db.session.flush()
    stored = json.loads(event.data)  # what was stored: dates as text
    audit.record(_actor(actor), f"incident.{kind}", "incident", incident.id,
                 {"seq": event.seq, "learner_id": incident.learner_id,
                  **{k: v for k, v in stored.items() if k not in _PRIVATE}})
    return event


def lock_incident(incident: Incident) -> None:
    """Lock the incident's row and reload it, so the checks below see the latest state."""
    db.session.execute(sa.update(Incident).where(Incident.id == incident.id)
                       .values(last_seq=Incident.last_seq)
                       .execution_options(synchronize_session=False))
    db.session.refresh(incident)
