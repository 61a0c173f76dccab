"""Staff reports: the report to the awarding body (or, for staff who may not produce it, a
way to send it to the reporting team) and the analytics page (routes on the staff
blueprint)."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa
from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, ngettext

from lti_tool.audit import service as audit
from lti_tool.cases import reporting
from lti_tool.cases.access import can_see_everything
from lti_tool.declarations import service as declarations
from lti_tool.extensions import db
from lti_tool.people.access import require
from lti_tool.people.models import Course
from lti_tool.people.roles import STAFF
from lti_tool.reports import analytics, attachment, m1, safe_cell
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
    incident, sent = reporting.request_report(learner, g.launch.person)
    if incident is None:
        flash(gettext("%(name)s has no upheld case to report.", name=learner.display_name),
              "error")
    else:
        flash(ngettext("The report for %(name)s has been sent to the reporting team "
                       "(%(num)d person emailed). They will produce it and send it to the "
                       "awarding body.",
                       "The report for %(name)s has been sent to the reporting team "
                       "(%(num)d people emailed). They will produce it and send it to the "
                       "awarding body.", sent, name=learner.display_name), "success")
    return redirect(url_for("staff.learner", placement_id=placement_id,
                            person_id=learner.id), code=303)


def _analytics_scope() -> tuple[bool, list[Course]]:
    """Whether the viewer sees every course of the site (ALS, administrators) and which."""
    viewer = g.launch.person
    everything = can_see_everything(viewer)
    if everything:
        return True, list(db.session.scalars(
            sa.select(Course).where(Course.platform_id == g.launch.platform_id)))
    course = db.session.get(Course, g.placement.course_id)
    if course is None:
        abort(404)
    return False, [course]


@bp.get("/placements/<int:placement_id>/analytics")
@require(STAFF)
def analytics_page(placement_id: int) -> str:
    everything, courses = _analytics_scope()
    period = analytics.MonthRange.from_args(request.args)
    policy = declarations.placement_policy(g.placement)
    months = analytics.incidents_by_month(courses, period)
    by_course = analytics.incidents_by_course(courses, period)
    numbers = analytics.stage_numbers(by_course, policy.rules.last_stage)
    return render_template(
        "staff/analytics.html", placement=g.placement, person=g.launch.person,
        everything=everything, period=period, by_course=by_course, months=months,
        stage_numbers=numbers, stage_headings=[f"Upheld at Stage {n}" for n in numbers],
        peak=max([m.raised for m in months] + [1]),
        rates=analytics.declaration_rates(courses, policy.id), policy=policy)


CSV_TABLES = ("months", "courses", "activities")


@bp.get("/placements/<int:placement_id>/analytics-<any(months, courses, activities):table>.csv")
@require(STAFF)
def analytics_csv(placement_id: int, table: str) -> Response:
    """One of the analytics page's tables as CSV, with the same human headings and the
    chosen months."""
    _, courses = _analytics_scope()
    period = analytics.MonthRange.from_args(request.args)
    policy = declarations.placement_policy(g.placement)
    out = io.StringIO()
    writer = csv.writer(out)
    if table == "months":
        writer.writerow(["Month", "Incidents raised", "Upheld", "Not upheld",
                         "Not decided yet", "Upheld of those decided (%)"])
        for m in analytics.incidents_by_month(courses, period):
            writer.writerow([m.label, m.raised, m.upheld, m.not_upheld, m.undecided,
                             "" if m.upheld_percent is None else m.upheld_percent])
    elif table == "courses":
        by_course = analytics.incidents_by_course(courses, period)
        numbers = analytics.stage_numbers(by_course, policy.rules.last_stage)
        writer.writerow(["Course", f"Incidents raised ({period.label})", "Still open",
                         "Not upheld", *(f"Upheld at Stage {n}" for n in numbers)])
        for c in by_course:
            writer.writerow([safe_cell(c.course.display_name), c.raised, c.open, c.not_upheld,
                             *(c.at_stage(n) for n in numbers)])
    else:
        writer.writerow(["Activity", "Course", "Learners on Moodle's list",
                         f"Declared under {policy.label}", "Declaration rate (%)"])
        for r in analytics.declaration_rates(courses, policy.id):
            writer.writerow([safe_cell(r.title), safe_cell(r.course.display_name), r.learners,
                             r.declared, r.percent])
    return attachment(out.getvalue(), "text/csv", f"aiu-analytics-{table}.csv")
