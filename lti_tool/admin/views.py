"""Pages for tool administrators (Moodle site administrators launching the tool)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from lti_tool.audit import service as audit
from lti_tool.extensions import db
from lti_tool.lti.keystore import key_store
from lti_tool.outbox import service as outbox
from lti_tool.outbox.models import FAILED, OutboxMessage
from lti_tool.people.access import require
from lti_tool.people.roles import ADMIN
from lti_tool.platforms import service as platforms

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _page(new_url: str | None = None, **extra: object) -> str:
    return render_template("admin/index.html", platforms=platforms.list_platforms(),
                           keys=key_store().keys(), person=g.launch.person,
                           failed=outbox.failed_messages(g.launch.platform_id),
                           new_url=new_url, **extra)


@bp.get("/")
@require(ADMIN)
def index() -> str:
    return _page()


@bp.post("/registration-url")
@require(ADMIN)
def registration_url() -> str:
    url, invite = platforms.mint_invite(current_app.config["BASE_URL"],
                                        f"person:{g.launch.person_id}",
                                        current_app.config["REGISTRATION_URL_TTL"])
    return _page(new_url=url, invite=invite)


@bp.post("/outbox/<int:message_id>/retry")
@require(ADMIN)
def retry(message_id: int) -> ResponseReturnValue:
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.status != FAILED or (
            message.platform_id not in (None, g.launch.platform_id)):
        abort(404)
    outbox.retry_failed(message)
    audit.record(f"person:{g.launch.person_id}", "outbox.retried", "outbox_message",
                 message.id, {"kind": message.kind})
    flash("Queued again: it will be sent in a moment.", "success")
    return redirect(url_for("admin.index"), code=303)
