"""Pages for tool administrators (Moodle site administrators launching the tool)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, render_template

from lti_tool.lti.keystore import key_store
from lti_tool.people.access import require
from lti_tool.people.roles import ADMIN
from lti_tool.platforms import service as platforms

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@require(ADMIN)
def index() -> str:
    return render_template("admin/index.html", platforms=platforms.list_platforms(),
                           keys=key_store().keys(), person=g.launch.person, new_url=None)


@bp.post("/registration-url")
@require(ADMIN)
def registration_url() -> str:
    url, invite = platforms.mint_invite(current_app.config["BASE_URL"],
                                        f"person:{g.launch.person_id}",
                                        current_app.config["REGISTRATION_URL_TTL"])
    return render_template("admin/index.html", platforms=platforms.list_platforms(),
                           keys=key_store().keys(), person=g.launch.person, new_url=url,
                           invite=invite)
