"""What the tool writes in the feedback of the declaration grade in Moodle's gradebook.

Moodle shows this feedback to the learner, so it is worded for them: the declaration's line
(and the authentication at submission), then the state of an open case in neutral words,
then the learner's stage once a case has been upheld (the learner has been told). The
declaration and case steps both read their wording from here, so neither imports the other.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from lti_tool.cases.models import AWAITING_ANSWER, UNDECIDED_STATES, Incident
from lti_tool.cases.standing import placement_standing
from lti_tool.declarations import statements
from lti_tool.declarations.authentication import authentication_of
from lti_tool.declarations.models import Declaration
from lti_tool.extensions import db
from lti_tool.people.models import Person, Placement
from lti_tool.policy.service import Policy


def declaration_comment(declaration: Declaration, policy: Policy) -> str:
    """The declaration's line in Moodle's gradebook feedback (with the authentication at
    submission once the learner has made it)."""
    when = statements.day(declaration.created_at)
    label = f"(policy {policy.reference} v{policy.version})"
    authenticated = authentication_of(declaration)
    if authenticated is not None:
        return (f"AI use declared before starting on {when}; authenticated on "
                f"{statements.day(authenticated.created_at)} {label}")
    return f"AI use declaration received on {when} {label}"


def case_note(person: Person, placement: Placement) -> str:
    """What the tool adds to the declaration grade's feedback for this learner and activity.

    Moodle shows this feedback to the learner too, so an open question is worded
    neutrally; the stage appears once a case has been upheld (the learner has been
    told). Empty when there is nothing to say.
    """
    parts: list[str] = []
    latest_open = db.session.scalar(
        sa.select(Incident).where(Incident.learner_id == person.id,
                                  Incident.placement_id == placement.id,
                                  Incident.state.in_(UNDECIDED_STATES))
        .order_by(Incident.raised_at.desc()).limit(1))
    if latest_open is not None:
        if latest_open.state == AWAITING_ANSWER:
            parts.append(f"Question sent on {_day(latest_open.raised_at)}: awaiting the "
                         "learner's reply in the AI use activity")
        else:
            assert latest_open.answered_at is not None
            parts.append(f"Reply received on {_day(latest_open.answered_at)}: review in "
                         "progress")
    current = placement_standing(person, placement)
    if current.stage:
        assert current.since is not None
        parts.append(stage_note(current.stage, current.since, current.last_stage))
    return "".join(f". {p}" for p in parts)


def stage_note(stage: int, since: datetime, last_stage: int) -> str:
    """The stage part of the feedback (also shown before a decision is confirmed): the
    stage in the ledger of the activity's policy, out of that policy's stages."""
    return f"AI use policy stage {stage} of {last_stage} (recorded {_day(since)})"


def feedback(person: Person, placement: Placement, declaration: Declaration,
             policy: Policy) -> str:
    """The whole feedback text for the learner's declaration grade on the placement."""
    return declaration_comment(declaration, policy) + case_note(person, placement)


def _day(moment: datetime) -> str:
    return moment.strftime("%d %B %Y").lstrip("0")
