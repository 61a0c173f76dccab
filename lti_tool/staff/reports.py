"""Staff reports: the Stage-3 pack for the awarding body and the analytics page (routes on
the staff blueprint)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Response, g, render_template

from lti_tool.audit import service as audit
from lti_tool.cases.access import can_see_everything
from lti_tool.extensions import db
from lti_tool.people.access import require
from lti_tool.people.models import Course
from lti_tool.people.roles import STAFF
from lti_tool.policy import service as policies
from lti_tool.reports import analytics, attachment, filename_part, stage3
from lti_tool.staff.incidents import viewable_learner
from lti_tool.staff.views import bp


def _pack(person_id: int, kind: str) -> stage3.ReportPack:
    learner = viewable_learner(person_id)
    pack = stage3.build_pack(learner, g.launch.person)
    audit.record(f"person:{g.launch.person_id}", "report_pack.generated", "person",
                 learner.id, {"format": kind, "incidents": len(pack.incidents),
                              "stage": pack.stage})
    return pack


@bp.get("/placements/<int:placement_id>/learners/<int:person_id>/report.<any(pdf, csv):fmt>")
@require(STAFF)
def report(placement_id: int, person_id: int, fmt: str) -> Response:
    """The Stage-3 report pack as a PDF or a CSV download."""
    pack = _pack(person_id, fmt)
    body, mimetype = ((stage3.to_pdf(pack), "application/pdf") if fmt == "pdf"
                      else (stage3.to_csv(pack), "text/csv"))
    return attachment(body, mimetype, f"aiu-stage3-report-{filename_part(pack.learner.sub)}.{fmt}")


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
