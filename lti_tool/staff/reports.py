"""Staff reports: the report to the awarding body (or, for staff who may not produce it, a
way to send it to the reporting team) and the analytics page (routes on the staff
blueprint)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from lti_tool.audit import service as audit
from lti_tool.cases import reporting
from lti_tool.cases.access import can_see_everything
from lti_tool.extensions import db
from lti_tool.people.access import require
from lti_tool.people.models import Course
from lti_tool.people.roles import STAFF
from lti_tool.policy import service as policies
from lti_tool.reports import analytics, m1
from lti_tool.roles.service import reporters
from lti_tool.staff.incidents import viewable_learner
from lti_tool.staff.views import bp
from lti_tool.submissions.guard import once

_LEARNER = "/placements/<int:placement_id>/learners/<int:person_id>"


@bp.get(_LEARNER + "/report.<any(pdf, csv, zip):fmt>")
@require(STAFF)
def report(placement_id: int, person_id: int, fmt: str) -> ResponseReturnValue:
    """The report to the awarding body as a PDF, a CSV or the evidence files (ZIP); for
    staff who may not see every case in full, a page that sends it to the reporters."""
    learner = viewable_learner(person_id)
    try:
        built = m1.build(learner, g.launch.person)
    except m1.ReportNeedsReporters as exc:
        return render_template(
            "staff/report_needs_reporters.html", learner=learner, placement=g.placement,
            person=g.launch.person, message=exc.message,
            reporters=sum(1 for p in reporters(g.launch.platform_id)
                          if p.email and p.id != learner.id)), 403
    audit.record(f"person:{g.launch.person_id}", "report_pack.generated", "person",
                 learner.id, {"format": fmt, "incidents": len(built.cases),
                              "stage": built.stage})
    return m1.download(built, fmt)


@bp.post(_LEARNER + "/report/send")
@require(STAFF)
@once
def send_report(placement_id: int, person_id: int) -> ResponseReturnValue:
    learner = viewable_learner(person_id)
    incident, sent = reporting.request_report(learner, g.launch.person,
                                              policies.current_or_bundled())
    if incident is None:
        flash(f"{learner.display_name} has no upheld case to report.", "error")
    else:
        flash(f"The report for {learner.display_name} has been sent to the reporting team "
              f"({sent} {'person' if sent == 1 else 'people'} emailed). They will produce it "
              "and send it to the awarding body.", "success")
    return redirect(url_for("staff.learner", placement_id=placement_id,
                            person_id=learner.id), code=303)


@bp.get("/placements/<int:placement_id>/analytics")
@require(STAFF)
def analytics_page(placement_id: int) -> str:
    viewer = g.launch.person
    everything = can_see_everything(viewer)
    if everything:
        courses = list(db.session.scalars(
            sa.select(Course).where(Course.platform_id == g.launch.platform_id)))
    else:
        course = db.session.get(Course, g.placement.course_id)
        assert course is not None
        courses = [course]
    policy = policies.current_or_bundled()
    months = analytics.incidents_by_month(courses)
    return render_template(
        "staff/analytics.html", placement=g.placement, person=viewer, everything=everything,
        by_course=analytics.incidents_by_course(courses), months=months,
        peak=max([m.raised for m in months] + [1]),
        rates=analytics.declaration_rates(courses, policy.id), policy=policy)
