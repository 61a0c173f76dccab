"""The appeals queue and the appeal page for appeal reviewers, on the platform of the
session's launch (any course, any role). A reviewer who raised or decided the case, or is
its subject, is refused (403) before seeing it; two reviewers deciding at once: the second is
shown the result the first recorded (409)."""

from __future__ import annotations

from functools import partial

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from lti_tool import uploads
from lti_tool.cases import access, answers, appeals, clocks, evidence, letters, records
from lti_tool.cases.errors import IncidentConflict, IncidentError
from lti_tool.cases.forms import AppealReviewForm
from lti_tool.cases.models import (
    APPEAL_DISMISSED,
    APPEAL_UPHELD,
    FILE_FOR_ANSWER,
    FILE_FOR_APPEAL,
    Appeal,
    LearnerFile,
)
from lti_tool.cases.standing import case_policy
from lti_tool.extensions import db
from lti_tool.policy import service as policies
from lti_tool.roles.access import require_appeal_reviewer
from lti_tool.submissions import confirmation
from lti_tool.submissions.guard import once

bp = Blueprint("appeals", __name__, url_prefix="/appeals")


@bp.get("/")
@require_appeal_reviewer
def queue() -> str:
    items = appeals.queue(g.launch.platform_id, pending_only=False)
    policy = policies.current_or_bundled()
    return render_template("appeals/queue.html", person=g.person, items=items,
                           state_labels=appeals.STATE_LABELS,
                           clocks={a.id: clocks.appeal_clock(a, policy) for a in items},
                           conflicted={a.id for a in items if access.conflict_of_interest(
                               g.person, a.incident, access.APPEAL_REVIEW)})


def _appeal(appeal_id: int) -> Appeal:
    appeal = db.session.get(Appeal, appeal_id)
    if appeal is None or appeal.platform_id != g.launch.platform_id:
        abort(404)
    if appeal.reviewer_id != g.person.id:  # its reviewer may decide it (and see it after)
        access.check_may_act(g.person, appeal.incident, access.APPEAL_REVIEW)
    return appeal


def _form() -> AppealReviewForm:
    form = AppealReviewForm()
    form.result.choices = [(APPEAL_DISMISSED, "Dismiss the appeal: the decision stands"),
                           (APPEAL_UPHELD, "Uphold the appeal")]
    form.replacement.choices = list(appeals.REPLACEMENTS.items())
    return form


def _page(appeal: Appeal, form: AppealReviewForm | None = None, *, status: int = 200,
          notice: str | None = None) -> ResponseReturnValue:
    incident = appeal.incident
    policy = case_policy(incident)
    form = form or _form()
    errors = {form[name].id: messages[0] for name, messages in form.errors.items()
              if name in form and messages}
    return render_template(
        "appeals/appeal.html", person=g.person, appeal=appeal, incident=incident,
        form=form, errors=errors, notice=notice, state_labels=appeals.STATE_LABELS,
        grounds=appeals.grounds_of(appeal), evidence=evidence.evidence_of(incident),
        answer=answers.answer_of(incident),
        answer_files=answers.learner_files(incident, FILE_FOR_ANSWER),
        appeal_files=answers.learner_files(incident, FILE_FOR_APPEAL),
        letter=letters.decision_letter(incident, policy),
        assignment=letters.assignment_name(incident.placement),
        timeline=records.timeline(incident),
        describe=partial(records.describe, rules=policy.rules),
        replacements=appeals.REPLACEMENTS), (400 if errors else status)


@bp.get("/<int:appeal_id>")
@require_appeal_reviewer
def appeal(appeal_id: int) -> ResponseReturnValue:
    return _page(_appeal(appeal_id))


@bp.post("/<int:appeal_id>/review")
@require_appeal_reviewer
@once
def review(appeal_id: int) -> ResponseReturnValue:
    appeal = _appeal(appeal_id)
    policy = case_policy(appeal.incident)
    form = _form()
    if form.validate_on_submit():
        result = form.result.data or ""
        replacement = form.replacement.data or None if result == APPEAL_UPHELD else None
        if result == APPEAL_UPHELD and replacement not in appeals.REPLACEMENTS:
            form.replacement.errors = ["Choose what happens to the decision."]
            return _page(appeal, form, status=400)
        if not confirmation.confirmed():
            name = appeal.incident.learner.display_name
            lines = ([f"The decision stands. {name} is sent a letter with your reasons and "
                      "the awarding body's appeals procedure."] if result == APPEAL_DISMISSED
                     else [appeals.REPLACEMENTS[replacement or ""] + ".",
                           f"{name}'s stages are worked out again across all courses, and "
                           "every gradebook status is sent to Moodle again (grades stay 1/1).",
                           f"{name} is sent a letter with your reasons and the next route."])
            return confirmation.ask(
                title=("Dismiss this appeal?" if result == APPEAL_DISMISSED
                       else "Uphold this appeal?"), consequences=lines,
                confirm_label="Record the decision on the appeal",
                cancel_url=url_for("appeals.appeal", appeal_id=appeal.id))
        try:
            appeals.review(appeal, g.person, result=result, reasons=form.reasons.data or "",
                           replacement=replacement, policy=policy)
        except IncidentConflict as exc:
            db.session.rollback()
            db.session.refresh(appeal)
            return _page(appeal, notice=exc.message, status=409)
        except IncidentError as exc:
            field = form[exc.field] if exc.field in form else form.reasons
            field.errors = [*field.errors, exc.message]
        else:
            flash(gettext("Decision on the appeal recorded. The learner has been sent the "
                          "letter."), "success")
            return redirect(url_for("appeals.appeal", appeal_id=appeal.id), code=303)
    return _page(appeal, form, status=400)


@bp.get("/<int:appeal_id>/files/<int:file_id>")
@require_appeal_reviewer
def learner_file(appeal_id: int, file_id: int) -> ResponseReturnValue:
    appeal = _appeal(appeal_id)
    row = db.session.get(LearnerFile, file_id)
    if row is None or row.incident_id != appeal.incident_id:
        abort(404)
    return uploads.download(answers.learner_file_content(row), row.content_type,
                            row.filename)
