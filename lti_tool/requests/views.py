"""Learners' pages: ask to use an AI tool, follow the request, answer the ALS team's
questions, withdraw. Also the template helpers other pages use to show authorisations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response as BaseResponse

from lti_tool.extensions import db
from lti_tool.lti.exceptions import AccessDenied
from lti_tool.people.access import current_launch, require
from lti_tool.people.models import Placement
from lti_tool.people.roles import LEARNER
from lti_tool.requests import service
from lti_tool.requests.forms import AnswerForm, RequestForm, WithdrawForm
from lti_tool.requests.models import (
    OPEN_STATES,
    REASON_LABELS,
    SCOPE_LABELS,
    STATUS_LABELS,
    AiToolRequest,
)
from lti_tool.submissions.guard import once

bp = Blueprint("requests", __name__, url_prefix="/requests")

F = TypeVar("F", bound=Callable[..., Any])


def learner_only(view: F) -> F:
    """A launch as a learner (staff launches are not learners here)."""

    @require(LEARNER)
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.launch.role != LEARNER:
            raise AccessDenied("learners_only", "Learners ask for AI tool authorisations here. "
                               "Course staff see their learners' requests from the course.")
        return view(*args, **kwargs)

    return cast(F, wrapped)


def _own_request(request_id: int) -> AiToolRequest:
    """The learner's own request, or 404 (someone else's is not revealed)."""
    req = service.get_request(request_id)
    if req is None or req.person_id != g.launch.person_id:
        abort(404)
    return req


def _placement() -> Placement | None:
    if g.launch.placement_id is None:
        return None
    return db.session.get(Placement, g.launch.placement_id)


@bp.get("/")
@learner_only
def index() -> str:
    person = g.launch.person
    return render_template(
        "requests/index.html", person=person, requests=service.requests_of(person.id),
        authorisations=service.active_authorisations(person.id),
        placement=_placement())


@bp.route("/new", methods=["GET", "POST"])
@learner_only
@once
def new() -> BaseResponse | tuple[str, int] | str:
    placement = _placement()
    if placement is None:
        raise AccessDenied("no_placement", "Open the tool from your assignment in Moodle to "
                           "ask for an AI tool.")
    form = RequestForm()
    if form.validate_on_submit():
        req = service.create_request(g.launch.person, placement, service.NewRequest(
            tool_name=form.tool_name.data or "", purpose=form.purpose.data or "",
            reason=form.reason.data or "", scope=form.scope.data or "",
            reason_detail=form.reason_detail.data or "",
            supporting_detail=form.supporting_detail.data or ""))
        flash(gettext("Your request has been sent to the ALS team. You will be told here and "
                      "by email when they decide."))
        return redirect(url_for("requests.detail", request_id=req.id), code=303)
    page = render_template("requests/new.html", form=form, placement=placement,
                           person=g.launch.person)
    return (page, 400) if form.errors else page


def _detail_page(req: AiToolRequest, *, answer_form: AnswerForm | None = None,
                 notice: str | None = None) -> str:
    return render_template(
        "requests/detail.html", req=req, person=g.launch.person,
        timeline=service.timeline(req), notice=notice,
        answer_form=answer_form or AnswerForm(formdata=None, version=req.version),
        withdraw_form=WithdrawForm(formdata=None, version=req.version))


_CHANGED = ("This request changed while you had it open, so nothing was saved. "
            "Here is where it stands now.")


@bp.get("/<int:request_id>")
@learner_only
def detail(request_id: int) -> str:
    return _detail_page(_own_request(request_id))


@bp.post("/<int:request_id>/answer")
@learner_only
@once
def answer(request_id: int) -> BaseResponse | tuple[str, int]:
    req = _own_request(request_id)
    form = AnswerForm()
    if not form.validate_on_submit():
        return _detail_page(req, answer_form=form), 400
    try:
        service.answer(req, g.launch.person, version=form.version_number(),
                       text=form.answer.data or "")
    except service.RequestChanged:
        db.session.expire_all()
        return _detail_page(_own_request(request_id), notice=_CHANGED), 409
    flash(gettext("Thank you. Your answer has been sent to the ALS team."))
    return redirect(url_for("requests.detail", request_id=req.id), code=303)


@bp.post("/<int:request_id>/withdraw")
@learner_only
@once
def withdraw(request_id: int) -> BaseResponse | tuple[str, int]:
    req = _own_request(request_id)
    form = WithdrawForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        service.withdraw(req, g.launch.person, version=form.version_number())
    except service.RequestChanged:
        db.session.expire_all()
        return _detail_page(_own_request(request_id), notice=_CHANGED), 409
    flash(gettext("You have withdrawn your request."))
    return redirect(url_for("requests.detail", request_id=req.id), code=303)


# -- helpers for templates of every blueprint ------------------------------------------------

@bp.app_template_global("ai_authorisations")
def ai_authorisations(person_id: int, course_id: int | None = None,
                      placement_id: int | None = None,
                      at: datetime | None = None) -> list[service.Authorisation]:
    """``active_authorisations`` for templates: pair it with ``requests/_authorisations.html``."""
    return service.active_authorisations(person_id, course_id=course_id,
                                         placement_id=placement_id, at=at)


@bp.app_template_global("learner_requests_panel")
def learner_requests_panel() -> dict[str, Any] | None:
    """What ``requests/_learner_panel.html`` shows for the current launch (None when the
    launch is not a learner's launch from an activity)."""
    launch = current_launch()
    if launch is None or launch.role != LEARNER or launch.placement_id is None:
        return None
    if "learner_requests_panel" in g:  # the page asks twice (notice at the top, panel)
        panel: dict[str, Any] = g.learner_requests_panel
        return panel
    mine = service.requests_of(launch.person_id)
    g.learner_requests_panel = {
        "authorisations": service.active_authorisations_for_page(launch.person_id,
                                                                 launch.placement_id),
        "open_requests": [r for r in mine if r.status in OPEN_STATES],
        "needs_answer": [r for r in mine if r.open_question is not None],
        "count": len(mine),
    }
    return g.learner_requests_panel


@bp.app_context_processor
def request_labels() -> dict[str, Any]:
    return {"status_labels": STATUS_LABELS, "scope_labels": SCOPE_LABELS,
            "reason_labels": REASON_LABELS, "describe_age": service.describe_age}
