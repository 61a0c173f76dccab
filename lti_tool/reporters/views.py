"""The reporting queue: cases at the stage the policy reports to the awarding body, with the
report's clock and who asked for it, and the report (PDF, CSV, evidence ZIP) for each.

Checked against the tool roles on the session's platform (ALS members, quality leads, tool
administrators), whatever course or role the person launched with."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from werkzeug.wrappers import Response

from lti_tool.audit import service as audit
from lti_tool.cases import reporting
from lti_tool.cases.clocks import overdue_cases
from lti_tool.cases.errors import IncidentError
from lti_tool.cases.forms import SuspicionReportedForm
from lti_tool.cases.models import Incident
from lti_tool.extensions import db
from lti_tool.people.models import Person
from lti_tool.policy import service as policies
from lti_tool.reports import m1
from lti_tool.roles.access import require_reporter
from lti_tool.submissions.guard import once

bp = Blueprint("reporting", __name__, url_prefix="/reporting")


@bp.get("/")
@require_reporter
def queue() -> ResponseReturnValue:
    return _queue_page()


def _queue_page(failed: SuspicionReportedForm | None = None, failed_id: int | None = None
                ) -> ResponseReturnValue:
    policy = policies.current_or_bundled()
    items = reporting.queue(g.launch.platform_id)
    # One form per case reported on suspicion (each with its own field ids).
    forms = {i.incident.id: (failed if failed is not None and failed_id == i.incident.id else
                             SuspicionReportedForm(prefix=f"case{i.incident.id}",
                                                   formdata=None))
             for i in items if i.on_suspicion}
    errors = ({failed[name].id: messages[0] for name, messages in failed.errors.items()
               if messages} if failed is not None else {})
    return render_template("reporters/queue.html", person=g.person, policy=policy,
                           items=items, forms=forms, errors=errors,
                           overdue=overdue_cases(policy, platform_id=g.launch.platform_id)
                           ), (400 if failed is not None else 200)


@bp.post("/cases/<int:incident_id>/suspicion-reported")
@require_reporter
@once
def suspicion_reported(incident_id: int) -> ResponseReturnValue:
    """Record that a case raised under a body told on suspicion was reported to it."""
    incident = db.session.get(Incident, incident_id)
    if incident is None or incident.platform_id != g.launch.platform_id:
        abort(404)
    form = SuspicionReportedForm(prefix=f"case{incident.id}")
    if form.validate_on_submit() and form.done_on.data is not None:
        try:
            reporting.record_suspicion_reported(incident, g.person, notes=form.notes.data or "",
                                                done_on=form.done_on.data)
        except IncidentError as exc:
            form[exc.field if exc.field in form else "notes"].errors = [exc.message]
        else:
            flash(gettext("Recorded: the suspicion about %(name)s's work was reported to the "
                          "awarding body.", name=incident.learner.display_name), "success")
            return redirect(url_for("reporting.queue"), code=303)
    return _queue_page(form, incident.id)


@bp.get("/learners/<int:person_id>/report.<any(pdf, csv, zip):fmt>")
@require_reporter
def report(person_id: int, fmt: str) -> Response:
    learner = db.session.get(Person, person_id)
    if learner is None or learner.platform_id != g.launch.platform_id:
        abort(404)
    built = m1.build(learner, g.person)
    audit.record(f"person:{g.person.id}", "report_pack.generated", "person", learner.id,
                 {"format": fmt, "incidents": len(built.cases), "stage": built.stage})
    return m1.download(built, fmt)
