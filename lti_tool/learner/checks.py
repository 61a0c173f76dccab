"""The learner's view of a check they take part in (routes on the learner blueprint): when
and where, what it is about, how to prepare, their right to a support person and to
adjustments, every change with its reason, the record once written, and their comments."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from lti_tool.cases import check_plans
from lti_tool.cases.check_forms import CommentForm
from lti_tool.cases.checks import CHECK_OUTCOMES
from lti_tool.cases.errors import IncidentError
from lti_tool.cases.letters import assignment_name
from lti_tool.cases.models import AuthenticityCheck, Incident
from lti_tool.cases.records import describe
from lti_tool.extensions import db
from lti_tool.learner.views import bp
from lti_tool.people.access import require
from lti_tool.people.roles import LEARNER
from lti_tool.submissions.guard import once


@bp.route("/checks/<int:check_id>", methods=["GET", "POST"])
@require(LEARNER)
@once
def check_page(check_id: int) -> ResponseReturnValue:
    check = db.session.get(AuthenticityCheck, check_id)
    incident = db.session.get(Incident, check.incident_id) if check is not None else None
    # Someone else's check is "not found": its existence is not theirs to know.
    if (check is None or incident is None or incident.platform_id != g.launch.platform_id
            or incident.learner_id != g.launch.person_id):
        abort(404)
    form = CommentForm()
    if check.done and form.validate_on_submit():
        try:
            check_plans.comment(check, g.launch.person, form.comment.data or "")
        except IncidentError as exc:
            form.comment.errors = [*form.comment.errors, exc.message]
        else:
            flash(gettext("Your comment has been added to the record."), "success")
            return redirect(url_for("learner.check_page", check_id=check.id), code=303)
    errors = {form[name].id: messages[0] for name, messages in form.errors.items()
              if name in form and messages}
    return render_template(
        "incidents/learner_check.html", check=check, incident=incident, form=form,
        errors=errors, person=g.launch.person, assignment=assignment_name(incident.placement),
        history=check_plans.history(check), comments=check_plans.comments(check),
        describe=describe, check_outcomes=CHECK_OUTCOMES,
        parts=check_plans.record_parts(check)), (400 if errors else 200)
