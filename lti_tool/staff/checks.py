"""Staff pages for moving and cancelling a planned check (routes on the staff blueprint; the
check's plan and record are on the case's page, :mod:`lti_tool.staff.incidents`)."""

from __future__ import annotations

from flask import g, url_for
from flask.typing import ResponseReturnValue

from lti_tool.cases import check_plans
from lti_tool.cases.check_forms import CancelForm, RescheduleForm
from lti_tool.cases.errors import IncidentError
from lti_tool.cases.models import AuthenticityCheck
from lti_tool.extensions import db
from lti_tool.people.access import part_of, require
from lti_tool.people.roles import STAFF
from lti_tool.staff.incidents import _attach, _done, _incident, _page
from lti_tool.staff.views import bp
from lti_tool.submissions import confirmation
from lti_tool.submissions.guard import once

_CHECK = "/placements/<int:placement_id>/incidents/<int:incident_id>/checks/<int:check_id>"


@bp.post(_CHECK + "/reschedule")
@require(STAFF)
@once
def reschedule_check(placement_id: int, incident_id: int,
                     check_id: int) -> ResponseReturnValue:
    incident = _incident(incident_id)
    check = part_of(incident, db.session.get(AuthenticityCheck, check_id))
    form = RescheduleForm(prefix=f"move{check.id}")
    if form.validate_on_submit():
        try:
            check_plans.reschedule(check, g.launch.person, form.schedule(),
                                   form.reason.data or "")
        except IncidentError as exc:
            _attach(form, exc)
        else:
            return _done(incident, f"The {check.method} is moved. The learner has been "
                         "emailed the new details.")
    return _page(incident, status=400, **{f"move{check.id}": form})


@bp.post(_CHECK + "/cancel")
@require(STAFF)
@once
def cancel_check(placement_id: int, incident_id: int, check_id: int) -> ResponseReturnValue:
    incident = _incident(incident_id)
    check = part_of(incident, db.session.get(AuthenticityCheck, check_id))
    form = CancelForm(prefix=f"cancel{check.id}")
    if form.validate_on_submit():
        if not confirmation.confirmed():
            learner = incident.learner.display_name
            return confirmation.ask(
                title=f"Cancel the {check.method}?",
                consequences=[
                    f"{learner} is emailed that it is cancelled, with your reason: "
                    f"\u201c{(form.reason.data or '').strip()}\u201d",
                    "The cancellation and its reason stay in the case's history; it cannot be "
                    "undone (plan a new check instead).",
                ],
                confirm_label=f"Cancel the {check.method} and tell {learner}",
                cancel_url=url_for("staff.incident", placement_id=placement_id,
                                   incident_id=incident.id),
                cancel_label=f"Keep the {check.method}", danger=True)
        try:
            check_plans.cancel(check, g.launch.person, form.reason.data or "")
        except IncidentError as exc:
            _attach(form, exc)
        else:
            return _done(incident, f"The {check.method} is cancelled. The learner has been "
                         "emailed.")
    return _page(incident, status=400, **{f"cancel{check.id}": form})
