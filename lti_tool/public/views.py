"""The tool's front door, for people who open it outside Moodle, and a health check."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue

from lti_tool.extensions import db
from lti_tool.notifications import service as notifications
from lti_tool.outbox import service as outbox
from lti_tool.people.access import current_launch
from lti_tool.people.models import Person, Placement
from lti_tool.platforms.models import Platform

bp = Blueprint("public", __name__)


@bp.get("/")
def home() -> str:
    base = current_app.config["BASE_URL"]
    return render_template("public/home.html", base=base)


@bp.get("/healthz")
def health() -> ResponseReturnValue:
    """For load balancers and monitoring, without signing in: the app answers, the database
    answers (one query), and the outbox's figures, which carry no personal data."""
    return jsonify({"status": "ok", "outbox": outbox.queue_figures().as_json()})


@bp.get("/open/<token>")
def open_link(token: str) -> ResponseReturnValue:
    """An emailed link to a page of the tool. With this person's session it opens the page;
    without one (emails are read outside Moodle's frame, where the tool's cookie is not) the
    page asks them to open the activity in Moodle, and that launch lands on the page."""
    link = notifications.read_link(token)
    person = db.session.get(Person, link.person_id) if link else None
    if link is None or person is None:
        abort(404)
    launch = current_launch()
    if launch is not None and launch.person_id == person.id:
        return redirect(request.script_root + link.path, code=303)
    notifications.remember_destination(person, link.path)
    db.session.commit()
    platform = db.session.get(Platform, person.platform_id)
    placement = db.session.get(Placement, link.placement_id) if link.placement_id else None
    activity_url = None
    if platform is not None and placement is not None:
        # Moodle opens an LTI activity by its instance id, which is the resource link id.
        activity_url = (f"{platform.issuer.rstrip('/')}/mod/lti/view.php?"
                        f"l={placement.resource_link_id}")
    return render_template("public/open_in_moodle.html", platform=platform,
                           placement=placement, activity_url=activity_url,
                           minutes=int(current_app.config["OPEN_LINK_PENDING_MINUTES"]))
