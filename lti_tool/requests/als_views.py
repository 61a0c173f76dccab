"""The ALS team's pages: the queue of requests on the platform and the decision page.

Checked against the ALS role on the session's platform, whatever course or role the member
launched with."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from werkzeug.wrappers import Response as BaseResponse

from lti_tool.cases.clocks import overdue_cases
from lti_tool.extensions import db
from lti_tool.notifications import service as notifications
from lti_tool.policy import service as policies
from lti_tool.requests import service
from lti_tool.requests.forms import DecisionForm, NotificationForm
from lti_tool.requests.models import (
    APPROVED,
    DECLINED,
    MORE_INFO,
    OUTCOMES,
    REVOKED,
    AiToolRequest,
)
from lti_tool.roles.access import require_als
from lti_tool.submissions import confirmation
from lti_tool.submissions.guard import once

bp = Blueprint("als", __name__, url_prefix="/als")

DONE = {
    APPROVED: lazy_gettext("approved"),
    DECLINED: lazy_gettext("declined"),
    MORE_INFO: lazy_gettext("more information requested"),
    REVOKED: lazy_gettext("authorisation revoked"),
}
STATUS_FILTERS = [
    ("open", lazy_gettext("Open (waiting for the ALS team or the learner)")),
    ("pending", lazy_gettext("Waiting for the ALS team")),
    ("more_info", lazy_gettext("Waiting for the learner's answer")),
    ("approved", lazy_gettext("Approved")),
    ("declined", lazy_gettext("Declined")),
    ("revoked", lazy_gettext("Revoked")),
    ("withdrawn", lazy_gettext("Withdrawn by the learner")),
    ("all", lazy_gettext("All")),
]


@bp.get("/")
@require_als
def queue() -> str:
    status = request.args.get("status", "open")
    if status not in service.QUEUE_FILTERS:
        status = "open"
    course_id = request.args.get("course", type=int)
    learner_id = request.args.get("learner", type=int)
    return _queue_page(status, course_id, learner_id)


def _queue_page(status: str = "open", course_id: int | None = None,
                learner_id: int | None = None, form: NotificationForm | None = None,
                ) -> str:
    courses, learners = service.queue_choices(g.launch.platform_id)
    items = service.queue(g.launch.platform_id, status=status, course_id=course_id,
                          person_id=learner_id)
    counts = service.status_counts(g.launch.platform_id)
    totals = {key: sum(counts.get(s, 0) for s in service.QUEUE_FILTERS[key])
              for key, _ in STATUS_FILTERS}
    form = form or NotificationForm(formdata=None,
                                    frequency=notifications.frequency_of(g.person))
    return render_template("als/queue.html", person=g.person, items=items, status=status,
                           course_id=course_id, learner_id=learner_id, courses=courses,
                           learners=learners, status_filters=STATUS_FILTERS, totals=totals,
                           notification_form=form,
                           overdue=overdue_cases(policies.current_or_bundled(),
                                                 platform_id=g.launch.platform_id))


@bp.post("/notifications")
@require_als
@once
def notifications_choice() -> BaseResponse | tuple[str, int]:
    """How the member is told about new requests and answers: each at once, or daily."""
    form = NotificationForm()
    if not form.validate_on_submit():
        return _queue_page(form=form), 400
    notifications.set_frequency(g.person, form.frequency.data or "")
    flash(gettext("Saved: you will get one email a day.") if form.frequency.data == "daily"
          else gettext("Saved: you will get an email for each new request and answer."))
    return redirect(url_for("als.queue"), code=303)


def _platform_request(request_id: int) -> AiToolRequest:
    req = service.get_request(request_id)
    if req is None or req.platform_id != g.launch.platform_id:
        abort(404)
    return req


def _request_page(req: AiToolRequest, form: DecisionForm | None = None,
                  notice: str | None = None) -> str:
    outcomes = service.allowed_outcomes(req)
    if form is None:
        form = DecisionForm(formdata=None, version=req.version,
                            scope=service.scope_in_force(req))
    form.offer(outcomes)
    history = [r for r in service.requests_of(req.person_id) if r.id != req.id]
    return render_template("als/request.html", person=g.person, req=req, form=form,
                           outcomes=outcomes, history=history, timeline=service.timeline(req),
                           own=req.person_id == g.person.id, notice=notice,
                           authorisations=service.active_authorisations(req.person_id))


@bp.get("/requests/<int:request_id>")
@require_als
def request_page(request_id: int) -> str:
    return _request_page(_platform_request(request_id))


@bp.post("/requests/<int:request_id>/decision")
@require_als
@once
def decide(request_id: int) -> ResponseReturnValue:
    req = _platform_request(request_id)
    # Any outcome passes the form: whether the request's state allows it is the service's
    # call, made against the version the member saw (a stale page gets a 409, not a 400).
    form = DecisionForm()
    form.offer(OUTCOMES)
    if not form.validate_on_submit():
        return _request_page(req, form), 400
    def record() -> str:
        return service.decide(
            req, g.person, version=form.version_number(), outcome=form.outcome.data or "",
            conditions=form.conditions.data or "", scope=form.scope.data,
            expires_on=form.expiry, reason=form.reason.data or "",
            question=form.question.data or "").outcome

    try:
        if not confirmation.confirmed():
            return _confirm_decision(req, confirmation.rehearse(record))
        outcome = record()
    except service.RequestChanged:
        db.session.expire_all()
        return _request_page(_platform_request(request_id), notice=gettext(
            "Someone else changed this request while you had it open (another ALS member "
            "decided, or the learner answered or withdrew it), so your decision was not "
            "saved. Here is where it stands now.")), 409
    except service.InvalidAction as exc:
        return _request_page(req, form, notice=str(exc)), 400
    flash(gettext("Decision recorded: %(done)s. The learner is told by email and in the tool.",
                  done=DONE[outcome]) if req.person.email else gettext(
        "Decision recorded: %(done)s. The learner is told in the tool (Moodle shared no email "
        "address for them).", done=DONE[outcome]), "success")
    return redirect(url_for("als.request_page", request_id=req.id), code=303)


def _confirm_decision(req: AiToolRequest,
                      rehearsal: confirmation.Rehearsal[str]) -> ResponseReturnValue:
    """The confirmation page of an ALS decision: what it does, and the learner's email."""
    learner, tool = req.person.display_name, req.tool_name
    told = (gettext("%(learner)s is emailed (below) and sees it in the tool.", learner=learner)
            if rehearsal.emails else gettext(
                "%(learner)s sees it in the tool (Moodle shared no email address for them).",
                learner=learner))
    outcome = rehearsal.value
    if outcome == APPROVED:
        title = gettext("Approve %(tool)s for %(learner)s?", tool=tool, learner=learner)
        lines = [gettext("%(learner)s may use %(tool)s as you set out (scope, conditions and "
                         "end date).", learner=learner, tool=tool),
                 gettext("It is written into their declarations; their course staff see the "
                         "tool, conditions and dates, never their reasons."), told]
        label, danger = gettext("Approve the request"), False
    elif outcome == DECLINED:
        title = gettext("Decline %(learner)s's request for %(tool)s?", learner=learner,
                        tool=tool)
        lines = [gettext("%(learner)s may not use %(tool)s; they are told your reason.",
                         learner=learner, tool=tool), told,
                 gettext("They can make a new request later.")]
        label, danger = gettext("Decline the request"), True
    elif outcome == REVOKED:
        title = gettext("Revoke %(learner)s's authorisation for %(tool)s?", learner=learner,
                        tool=tool)
        lines = [gettext("The authorisation ends now: %(learner)s may no longer use %(tool)s.",
                         learner=learner, tool=tool), told,
                 gettext("Declarations already made keep their record of it.")]
        label, danger = gettext("Revoke the authorisation"), True
    else:
        title = gettext("Ask %(learner)s for more information?", learner=learner)
        lines = [gettext("The request waits for their answer to your question."), told]
        label, danger = gettext("Send the question"), False
    email = rehearsal.emails[0] if rehearsal.emails else None
    return confirmation.ask(title=title, consequences=lines, confirm_label=label,
                            danger=danger, preview=email,
                            cancel_url=url_for("als.request_page", request_id=req.id))
