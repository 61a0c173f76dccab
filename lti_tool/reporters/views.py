"""The reporting queue: cases at the stage the policy reports to the awarding body, with the
report's clock and who asked for it, and the report (PDF, CSV, evidence ZIP) for each.

Checked against the tool roles on the session's platform (ALS members, quality leads, tool
administrators), whatever course or role the person launched with."""

from __future__ import annotations

from flask import Blueprint, abort, g, render_template
from werkzeug.wrappers import Response

from lti_tool.audit import service as audit
from lti_tool.cases import reporting
from lti_tool.cases.clocks import overdue_cases
from lti_tool.extensions import db
from lti_tool.people.models import Person
from lti_tool.policy import service as policies
from lti_tool.reports import m1
from lti_tool.roles.access import require_reporter

bp = Blueprint("reporting", __name__, url_prefix="/reporting")


@bp.get("/")
@require_reporter
def queue() -> str:
    policy = policies.current_or_bundled()
    return render_template("reporters/queue.html", person=g.person, policy=policy,
                           items=reporting.queue(g.launch.platform_id),
                           overdue=overdue_cases(policy, platform_id=g.launch.platform_id))


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
