"""Course staff's read-only view of their learners' AI-tool requests and outcomes.

Only the ALS team decides; staff of a course see the requests made in it (and
qualification-wide ones of its learners), without the learner's reasons, which stay with
the ALS team."""

from __future__ import annotations

from flask import Blueprint, abort, g, render_template

from lti_tool.people.access import require
from lti_tool.people.roles import STAFF
from lti_tool.requests import service
from lti_tool.roles import service as roles

bp = Blueprint("course_requests", __name__, url_prefix="/staff/requests")


@bp.get("/courses/<int:course_id>")
@require(STAFF)
def course(course_id: int) -> str:
    return render_template("course_requests/course.html", course=g.course,
                           person=g.launch.person, items=service.course_requests(course_id))


@bp.get("/courses/<int:course_id>/<int:request_id>")
@require(STAFF)
def detail(course_id: int, request_id: int) -> str:
    req = service.get_request(request_id)
    if req is None or req.platform_id != g.launch.platform_id or \
            not service.applies_to_course(req, course_id):
        abort(404)
    person = g.launch.person
    return render_template("course_requests/detail.html", course=g.course, req=req,
                           person=person, timeline=service.timeline(req),
                           is_als=roles.is_als(person),
                           authorisations=service.active_authorisations(
                               req.person_id, course_id=course_id))
