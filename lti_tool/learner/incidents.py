"""The learner's answer to "how could this have occurred?" (routes on the learner blueprint):
from their own launch of the activity, or from the single-use link in the email, which
needs no Moodle launch and works only for that learner and that incident."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from lti_tool.cases.answers import answer, answer_of, draft_of, learner_files, link_for_token
from lti_tool.cases.errors import IncidentError, LinkRefused
from lti_tool.cases.evidence import evidence_of, learner_summary
from lti_tool.cases.forms import AnswerForm, DraftAnswerForm, file_hint
from lti_tool.cases.letters import assignment_name
from lti_tool.cases.models import AWAITING_ANSWER, FILE_FOR_ANSWER, Incident
from lti_tool.cases.standing import case_policy
from lti_tool.extensions import db
from lti_tool.learner.views import bp
from lti_tool.lti.exceptions import AccessDenied
from lti_tool.people.access import current_launch, require
from lti_tool.people.models import Person
from lti_tool.people.roles import LEARNER
from lti_tool.submissions.guard import once


def _errors(form: AnswerForm) -> dict[str, str]:
    return {form[name].id: messages[0] for name, messages in form.errors.items()
            if name in form and messages}


def render_answer_page(form: AnswerForm, incident: Incident, learner: Person, *, via_link: bool,
            status: int = 200, draft_form: DraftAnswerForm | None = None
            ) -> ResponseReturnValue:
    errors = _errors(form)
    draft = draft_of(incident)
    if draft is not None and not form.is_submitted():
        form.answer.data = draft.text
    if draft_form is None:
        draft_form = DraftAnswerForm(prefix="draft", formdata=None,
                                     answer=draft.text if draft else "")
    else:
        errors.update({draft_form[name].id: messages[0]
                       for name, messages in draft_form.errors.items() if messages})
    return render_template("incidents/answer.html", form=form, incident=incident,
                           learner=learner, person=None if via_link else learner,
                           assignment=assignment_name(incident.placement),
                           policy=case_policy(incident), errors=errors,
                           via_link=via_link, draft_form=draft_form,
                           files=learner_files(incident, FILE_FOR_ANSWER),
                           disclosed=[learner_summary(e) for e in evidence_of(
                               incident, disclosed_only=True)],
                           file_hint=file_hint()), (400 if errors else status)


@bp.route("/incidents/<int:incident_id>/answer", methods=["GET", "POST"])
@require(LEARNER)
@once
def answer_question(incident_id: int) -> ResponseReturnValue:
    incident = db.session.get(Incident, incident_id)
    if incident is None or incident.platform_id != g.launch.platform_id:
        abort(404)
    learner = g.launch.person
    if incident.learner_id != learner.id:
        raise AccessDenied("not_your_question", "This question was sent to someone else.")
    if incident.state != AWAITING_ANSWER:
        return render_template("incidents/answered.html", incident=incident, person=learner,
                               assignment=assignment_name(incident.placement),
                               answer=answer_of(incident), via_link=False)
    form = AnswerForm()
    if form.validate_on_submit():
        try:
            answer(incident, learner, form.answer.data or "", via="moodle")
        except IncidentError as exc:
            form.answer.errors = [*form.answer.errors, exc.message]
        else:
            flash(gettext("Thank you: your answer has been sent to your tutor."), "success")
            if g.launch.placement_id is not None:
                return redirect(url_for("learner.placement",
                                        placement_id=g.launch.placement_id), code=303)
            return redirect(url_for("learner.answer_question", incident_id=incident.id),
                            code=303)
    return render_answer_page(form, incident, learner, via_link=False)


@bp.route("/answer/<token>", methods=["GET", "POST"])
@once
def answer_by_link(token: str) -> ResponseReturnValue:
    try:
        link = link_for_token(token)
    except LinkRefused as exc:
        if exc.reason != "answer_link_used":
            raise
        # Not an error for the learner: their answer arrived (each link works once).
        return render_template("incidents/link_used.html", person=None,
                               reference=exc.reason), 410
    launch = current_launch()
    if launch is not None and launch.person_id != link.person_id:
        # This browser is signed in to the tool as someone else: not this learner's link.
        raise AccessDenied("not_your_question", "This link was sent to someone else. Open "
                           "the AI use activity in Moodle to see your own questions.")
    incident = db.session.get(Incident, link.incident_id)
    learner = db.session.get(Person, link.person_id)
    assert incident is not None and learner is not None
    if incident.state != AWAITING_ANSWER:
        return render_template("incidents/link_used.html", person=None, closed=True,
                               reference="answer_link_closed"), 410
    form = AnswerForm()
    if form.validate_on_submit():
        try:
            answer(incident, learner, form.answer.data or "", via="link")
        except IncidentError as exc:
            form.answer.errors = [*form.answer.errors, exc.message]
        else:
            return render_template("incidents/answered.html", incident=incident,
                                   person=None, assignment=assignment_name(
                                       incident.placement),
                                   answer=answer_of(incident), via_link=True,
                                   just_sent=True)
    return render_answer_page(form, incident, learner, via_link=True)
