"""What the learner is sent and where: their address, the assignment's name, the decision
letter."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from lti_tool.cases.ledger import ACTION_LABELS, stage_meaning
from lti_tool.cases.models import (
    UPHELD,
    Incident,
)
from lti_tool.extensions import db
from lti_tool.people.models import CourseMember, Placement
from lti_tool.policy.service import Policy


def learner_email(incident: Incident) -> str:
    """Where to email the learner: their launch email, else Names and Roles'; "" when
    Moodle gave no single valid address (they are asked in the tool only)."""
    from lti_tool.notifications.addresses import usable_address

    learner = incident.learner
    if learner.email:
        return usable_address(learner.email)
    found = db.session.scalar(sa.select(CourseMember.email).where(
        CourseMember.course_id == incident.course_id, CourseMember.sub == learner.sub))
    return usable_address(found)


def assignment_name(placement: Placement) -> str:
    """The assignment a placement covers, as its teacher named it."""
    from lti_tool.declarations.service import effective_settings

    settings = effective_settings(placement)
    return settings.assignment_name or settings.title or placement.display_name


def tell_learner_decision(incident: Incident, policy: Policy, data: dict[str, Any]) -> None:
    from lti_tool.notifications.service import send_email

    to = learner_email(incident)
    if not to:
        return
    assignment = assignment_name(incident.placement)
    stage = data.get("stage")
    send_email(to, f"The outcome of the question about your work for {assignment}",
               "incident_decision", learner=incident.learner, assignment=assignment,
               course=incident.course, upheld=data["outcome"] == UPHELD, stage=stage,
               action=data.get("action"), action_label=ACTION_LABELS.get(data.get("action") or
                                                                          "", ""),
               stage_text=stage_meaning(policy, stage) if stage else "", policy=policy,
               repeated=bool(data.get("repeated")))
