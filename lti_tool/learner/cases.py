"""The learner's "My AI-use cases" (routes on the learner blueprint): every case with its
status, evidence, answers, letters and appeal, from any launch or from the signed link in a
decision email (read-only); the answer page's draft, attachments and "I will not answer";
the appeal form; letters as PDF."""

from __future__ import annotations

import io
from typing import Any

from flask import (
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from werkzeug.datastructures import FileStorage

from lti_tool import uploads
from lti_tool.cases import answers, appeals, learner_view, letters
from lti_tool.cases.errors import IncidentError
from lti_tool.cases.evidence import check_file
from lti_tool.cases.forms import AnswerForm, AppealForm, DraftAnswerForm, file_hint
from lti_tool.cases.models import FILE_FOR_ANSWER, Incident
from lti_tool.cases.standing import case_policy
from lti_tool.extensions import db
from lti_tool.learner.views import bp
from lti_tool.lti.exceptions import AccessDenied
from lti_tool.people.access import current_launch, require
from lti_tool.people.models import Person
from lti_tool.people.roles import LEARNER
from lti_tool.submissions.guard import once

UPLOAD_ENDPOINTS = {"learner.save_draft", "learner.appeal"}


@bp.url_value_preprocessor
def _allow_uploads(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # As on the staff evidence pages: only these pages accept a file bigger than
    # MAX_CONTENT_LENGTH.
    if endpoint in UPLOAD_ENDPOINTS:
        uploads.allow_upload()


def _own_case(incident_id: int) -> Incident:
    incident = db.session.get(Incident, incident_id)
    if incident is None or incident.platform_id != g.launch.platform_id:
        abort(404)
    if incident.learner_id != g.launch.person_id:
        raise AccessDenied("not_your_case", "You can only see your own cases.")
    return incident


def _render_cases(learner: Person, *, via_link: bool) -> str:
    return render_template("learner/cases.html", person=None if via_link else learner,
                           learner=learner, mine=learner_view.my_cases(learner),
                           via_link=via_link)


@bp.get("/cases")
@require(LEARNER)
def cases() -> str:
    return _render_cases(g.launch.person, via_link=False)


@bp.get("/cases/view/<token>")
def cases_by_link(token: str) -> str:
    person_id = letters.person_for_cases_token(token)
    learner = db.session.get(Person, person_id) if person_id is not None else None
    if learner is None:
        raise AccessDenied("cases_link_invalid", "This link is not valid or has expired. "
                           "Open the AI use activity in Moodle and choose My AI-use cases.",
                           status=404)
    launch = current_launch()
    if launch is not None and launch.person_id != learner.id:
        raise AccessDenied("not_your_case", "This link was sent to someone else.")
    return _render_cases(learner, via_link=True)


@bp.get("/cases/<int:incident_id>/letter.pdf")
@require(LEARNER)
def letter_pdf(incident_id: int) -> ResponseReturnValue:
    incident = _own_case(incident_id)
    policy = case_policy(incident)
    which = request.args.get("of", "decision")
    letter = None
    if which == "appeal":
        appeal = appeals.appeal_of(incident)
        if appeal is not None and appeal.reviewed_at is not None:
            letter = letters.appeal_letter(appeal, policy)
    else:
        letter = letters.decision_letter(incident, policy)
    if letter is None:
        abort(404)
    response = send_file(io.BytesIO(letters.letter_pdf(letter)), mimetype="application/pdf",
                         as_attachment=True, download_name=f"case-{incident.id}-{which}.pdf")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/incidents/<int:incident_id>/draft")
@require(LEARNER)
@once
def save_draft(incident_id: int) -> ResponseReturnValue:
    """Save the answer as a draft and/or attach a file (the answer is not sent)."""
    from lti_tool.learner.incidents import render_answer_page

    incident = _own_case(incident_id)
    form = DraftAnswerForm(prefix="draft")
    if form.validate_on_submit():
        upload = form.file.data
        try:
            if isinstance(upload, FileStorage) and upload.filename:
                content = upload.read()
                check_file(upload.filename, content, "file")  # before anything is written
                answers.save_draft(incident, g.launch.person, form.answer.data or "")
                answers.add_learner_file(incident, g.launch.person, purpose=FILE_FOR_ANSWER,
                                         filename=upload.filename, content=content)
            else:
                answers.save_draft(incident, g.launch.person, form.answer.data or "")
        except IncidentError as exc:
            form[exc.field if exc.field in form else "answer"].errors = [exc.message]
        else:
            flash(gettext("Draft saved. Your tutor does not see it until you send your answer."),
                  "success")
            return redirect(url_for("learner.answer_question", incident_id=incident.id),
                            code=303)
    return render_answer_page(AnswerForm(formdata=None), incident, g.launch.person, via_link=False,
                   draft_form=form)


@bp.post("/incidents/<int:incident_id>/decline")
@require(LEARNER)
@once
def decline(incident_id: int) -> ResponseReturnValue:
    incident = _own_case(incident_id)
    answers.decline_to_answer(incident, g.launch.person)
    flash(gettext("Recorded: you will not answer. A decision may now be made without your "
                  "answer. You can still send an answer until it is decided."), "success")
    return redirect(url_for("learner.cases"), code=303)


@bp.route("/cases/<int:incident_id>/appeal", methods=["GET", "POST"])
@require(LEARNER)
@once
def appeal(incident_id: int) -> ResponseReturnValue:
    incident = _own_case(incident_id)
    if not appeals.may_appeal(incident):
        flash(gettext("This decision cannot be appealed now."), "error")
        return redirect(url_for("learner.cases"), code=303)
    policy = case_policy(incident)
    form = AppealForm()
    form.grounds.choices = list(appeals.GROUNDS.items())
    if form.validate_on_submit():
        upload = form.file.data
        files = ([(upload.filename, upload.read())]
                 if isinstance(upload, FileStorage) and upload.filename else [])
        try:
            appeals.submit_appeal(incident, g.launch.person,
                                  grounds=list(form.grounds.data or []),
                                  text=form.text.data or "", files=files)
        except IncidentError as exc:
            field = form[exc.field] if exc.field in form else form.text
            field.errors = [*field.errors, exc.message]
        else:
            flash(gettext("Your appeal has been sent. Someone new to your case will review it "
                          "and write to you."), "success")
            return redirect(url_for("learner.cases"), code=303)
    errors = {form[name].id: messages[0] for name, messages in form.errors.items()
              if name in form and messages}
    return render_template("learner/appeal.html", form=form, errors=errors,
                           incident=incident, person=g.launch.person, policy=policy,
                           assignment=letters.assignment_name(incident.placement),
                           letter=letters.decision_letter(incident, policy),
                           file_hint=file_hint()), (400 if errors else 200)
