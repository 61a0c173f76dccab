"""Pages for markers and other course staff: the placement overview, the learner panel a
gradebook review opens, and deep linking."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, g, render_template, request
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from lti_tool.extensions import db
from lti_tool.lti import deep_linking
from lti_tool.lti.exceptions import AccessDenied
from lti_tool.lti.keystore import key_store
from lti_tool.people.access import require
from lti_tool.people.models import Person
from lti_tool.people.roles import STAFF
from lti_tool.platforms.models import Platform

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.get("/placements/<int:placement_id>")
@require(STAFF)
def placement(placement_id: int) -> str:
    return render_template("staff/placement.html", placement=g.placement,
                           person=g.launch.person)


@bp.get("/placements/<int:placement_id>/review/<sub>")
@require(STAFF)
def review(placement_id: int, sub: str) -> str:
    learner = db.session.scalar(sa.select(Person).where(
        Person.platform_id == g.launch.platform_id, Person.sub == sub))
    return render_template("staff/review.html", placement=g.placement, learner=learner,
                           sub=sub, person=g.launch.person)


class DeepLinkForm(FlaskForm):
    title = StringField("Title of the activity", validators=[DataRequired(), Length(max=200)],
                        default="AI use declaration")


@bp.route("/deep-link", methods=["GET", "POST"])
@require(STAFF)
def deep_link() -> str:
    launch = g.launch
    if launch.message_type != "LtiDeepLinkingRequest" or not launch.deep_linking:
        raise AccessDenied("not_deep_linking", "Open this page with 'Select content' in "
                           "Moodle's activity settings.")
    form = DeepLinkForm()
    if request.method == "POST" and form.validate_on_submit():
        platform = db.session.get(Platform, launch.platform_id)
        if platform is None:
            abort(404)
        base = current_app.config["BASE_URL"].rstrip("/")
        title = form.title.data or "AI use declaration"
        item = deep_linking.ResourceLinkItem(
            title=title, url=base + "/lti/launch",
            line_item=deep_linking.LineItemSpec(
                score_maximum=1, label=f"AI use declaration — {title}",
                resource_id="aiu-declaration", tag="aiu-declaration",
                submission_review={"reviewableStatus": ["Submitted", "Completed"],
                                   "label": "AI use panel", "url": base + "/lti/launch"},
            ),
        )
        token = deep_linking.response_jwt(platform, launch.deployment_id, launch.deep_linking,
                                          [item], key_store())
        return render_template("lti/autopost.html",
                               action=launch.deep_linking["deep_link_return_url"],
                               fields={"JWT": token})
    return render_template("staff/deep_link.html", form=form, person=launch.person)
