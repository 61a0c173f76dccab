"""Pages for learners, inside the Moodle assignment."""

from __future__ import annotations

from flask import Blueprint, g, render_template

from lti_tool.people.access import require
from lti_tool.people.roles import LEARNER

bp = Blueprint("learner", __name__, url_prefix="/learner")


@bp.get("/placements/<int:placement_id>")
@require(LEARNER)
def placement(placement_id: int) -> str:
    return render_template("learner/placement.html", placement=g.placement,
                           person=g.launch.person)
