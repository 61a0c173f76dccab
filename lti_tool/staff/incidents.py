"""Staff pages for incidents (routes on the staff blueprint): recording an incident from a
learner's panel, the incident's page with its evidence, checks, the learner's answer, the
decision and the follow-up, and evidence downloads."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import (
    abort,
    flash,
    g,
    redirect,
    render_template,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_wtf import FlaskForm
from werkzeug.datastructures import FileStorage
from wtforms.fields.choices import SelectChoice

from lti_tool import uploads
from lti_tool.cases import (
    access,
    answers,
    check_plans,
    checks,
    clocks,
    decisions,
    evidence,
    ledger,
    letters,
    raising,
    records,
    safeguards,
    standing,
)
from lti_tool.cases.check_forms import CancelForm, PlanForm, RecordForm, RescheduleForm
from lti_tool.cases.errors import IncidentError
from lti_tool.cases.forms import (
    DecisionForm,
    EvidenceForm,
    FollowUpForm,
    IncidentForm,
    NoteForm,
    WithdrawForm,
    file_hint,
)
from lti_tool.cases.models import (
    ANSWERED,
    EV_CHECK_COMMENTED,
    EVIDENCE_FILE,
    FILE_FOR_ANSWER,
    FOLLOW_UP,
    SOURCE_CHECKER,
    UNDECIDED_STATES,
    UPHELD,
    AuthenticityCheck,
    EvidenceItem,
    Incident,
    LearnerFile,
)
from lti_tool.dbtypes import utcnow
from lti_tool.declarations import service as declarations
from lti_tool.extensions import db
from lti_tool.people.access import of_this_course, part_of, require
from lti_tool.people.models import Person
from lti_tool.people.roles import STAFF
from lti_tool.policy import service as policies
from lti_tool.staff.views import bp
from lti_tool.submissions import confirmation
from lti_tool.submissions.guard import once

UPLOAD_ENDPOINTS = {"staff.new_incident", "staff.add_evidence"}


@bp.url_value_preprocessor
def _allow_uploads(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # Runs before the CSRF check reads the body: only the evidence upload pages accept more
    # than MAX_CONTENT_LENGTH (the launch endpoint and every other page keep it).
    if endpoint in UPLOAD_ENDPOINTS:
        uploads.allow_upload()


def _errors(form: FlaskForm) -> dict[str, str]:
    return {form[name].id: messages[0] for name, messages in form.errors.items()
            if name in form and messages}


def _attach(form: FlaskForm, exc: IncidentError,
            mapping: dict[str, str] | None = None) -> None:
    name = (mapping or {}).get(exc.field, exc.field)
    field = form[name] if name in form else next(iter(form))
    field.errors = [*field.errors, exc.message]


def _upload(storage: Any) -> tuple[str | None, bytes | None]:
    if not isinstance(storage, FileStorage) or not storage.filename:
        return None, None
    return storage.filename, storage.read()


def viewable_learner(person_id: int) -> Person:
    """The person in the URL, if they are (or were) a member of the placement's course, or
    the learner this review launch named; otherwise a 404, whoever is asking (an ALS
    member or an administrator opens a learner from one of the learner's own courses)."""
    person = db.session.get(Person, person_id)
    if person is None or person.platform_id != g.launch.platform_id or not (
            g.launch.for_user == person.sub
            or access.learner_in_course(person, g.placement.course)):
        abort(404)
    return person


def _incident(incident_id: int, action: str = access.VIEW) -> Incident:
    """The incident in the URL: of this placement's course (else 404), and not one the
    viewer may take no part in (403, see :func:`access.conflict_of_interest`)."""
    incident = of_this_course(db.session.get(Incident, incident_id))
    access.check_may_act(g.launch.person, incident, action)
    return incident


# --- the learner panel ------------------------------------------------------------------------

@bp.get("/placements/<int:placement_id>/learners/<int:person_id>")
@require(STAFF)
def learner(placement_id: int, person_id: int) -> str:
    person = viewable_learner(person_id)
    viewer = g.launch.person
    policy = declarations.placement_policy(g.placement)
    history = declarations.history(person.id, g.placement.id)
    elsewhere = [(p, h) for p, h in declarations.histories(person.id)
                 if p.id != g.placement.id]
    staff_courses = access.staff_course_ids(viewer)
    everything = access.can_see_everything(viewer)
    cases = [(i, access.full_detail(viewer, i, staff_courses, everything))
             for i in answers.incidents_of(person)]
    current = standing.placement_standing(person, g.placement)
    return render_template(
        "staff/learner.html", placement=g.placement, learner=person, person=viewer,
        policy=policy, history=history, status=declarations.status(
            history[0] if history else None, policy),
        elsewhere=elsewhere, cases=cases, standing=current,
        reported=any(clocks.reportable(i, standing.case_policy(i)) for i, _ in cases),
        next_meaning=ledger.stage_meaning(policy, current.next_stage),
        state_label=records.state_label)


# --- recording an incident ---------------------------------------------------------------------

@bp.route("/placements/<int:placement_id>/learners/<int:person_id>/incidents/new",
          methods=["GET", "POST"])
@require(STAFF)
@once
def new_incident(placement_id: int, person_id: int) -> ResponseReturnValue:
    learner = viewable_learner(person_id)
    policy = declarations.placement_policy(g.placement)
    methods = [str(c) for c in policy["authenticity_checks"]]
    form = IncidentForm()
    form.set_choices(access.checkers(), methods)
    if form.validate_on_submit():
        filename, content = confirmation.uploaded_file("evidence_file")
        items = []
        if (form.evidence_text.data or "").strip() or filename:
            items.append(evidence.EvidenceInput(
                label=form.evidence_label.data or "", text=form.evidence_text.data or "",
                filename=filename, content=content,
                withheld=bool(form.evidence_withheld.data),
                withheld_reason=form.evidence_withheld_reason.data or ""))
        source = form.source.data or ""
        concern = {
            "placement": g.placement, "learner": learner, "raised_by": g.launch.person,
            "source": SOURCE_CHECKER if source in access.checkers() else source,
            "checker": source if source in access.checkers() else None,
            "checker_result": form.checker_result.data or "",
            "observations": form.observations.data or "", "evidence": items,
            "planned_checks": list(form.planned_checks.data or []),
            "detection_withheld": bool(form.detection_withheld.data),
            "detection_withheld_reason": form.detection_withheld_reason.data or ""}
        try:
            checked = raising.check_concern(policy=policy, **concern)
            if not confirmation.confirmed():
                return _confirm_raising(checked, policy)
            incident = raising.raise_incident(policy=policy, **concern)
        except IncidentError as exc:
            _attach(form, exc)
        else:
            flash(gettext("Incident recorded. %(name)s has been asked how this could have "
                          "occurred.", name=learner.display_name)
                  if letters.learner_email(incident) else
                  gettext("Incident recorded. Moodle has no usable email address for %(name)s: "
                          "they will see the question when they next open the activity.",
                          name=learner.display_name), "success")
            return redirect(url_for("staff.incident", placement_id=placement_id,
                                    incident_id=incident.id), code=303)
    errors = _errors(form)
    return render_template("incidents/new.html", form=form, errors=errors, learner=learner,
                           placement=g.placement, person=g.launch.person, policy=policy,
                           settings=declarations.effective_settings(g.placement),
                           standing=standing.placement_standing(learner, g.placement),
                           file_hint=file_hint(),
                           checkers=access.checkers()), (400 if errors else 200)


def _confirm_raising(concern: raising.Concern, policy: policies.Policy) -> ResponseReturnValue:
    """The confirmation step of recording an incident: what it does, what the learner is
    shown, and the email they will get."""
    learner = concern.learner
    to = letters.address_of(learner, concern.course.id)
    withheld = sum(1 for i in concern.evidence if i.withheld) + int(
        concern.detection_withheld)
    consequences = [
        gettext("%(name)s is asked how this could have occurred and has until %(date)s to "
                "answer (%(days)s working days).", name=learner.display_name,
                date=raising.answer_due(utcnow(), policy).strftime("%d %B %Y"),
                days=policy.case_process.response_working_days),
        gettext("They are shown %(count)s piece(s) of evidence; %(withheld)s withheld (staff "
                "see why).", count=len(concern.disclosed()), withheld=withheld) if withheld
        else gettext("They are shown %(count)s piece(s) of evidence.",
                     count=len(concern.disclosed())),
        gettext("Moodle's gradebook feedback says a question was sent (the grade stays 1/1)."),
    ]
    subject = gettext("A question about your work for %(assignment)s",
                      assignment=letters.assignment_name(concern.placement))
    return confirmation.ask(
        title=gettext("Record this incident and email the learner?"),
        consequences=consequences,
        confirm_label=gettext("Record it and email the learner"),
        cancel_url=url_for("staff.new_incident", placement_id=concern.placement.id,
                           person_id=learner.id),
        cancel_label=gettext("Go back and change it"),
        preview=confirmation.Preview(
            to=to or gettext("No usable email address: the learner sees the question in "
                             "Moodle"),
            subject=subject, body=raising.preview_question(concern, policy)))


# --- the incident page -------------------------------------------------------------------------

def _page(incident: Incident, *, status: int = 200, **forms: Any) -> ResponseReturnValue:
    policy = standing.case_policy(incident)
    methods = [str(c) for c in policy["authenticity_checks"]]
    current = standing.case_standing(incident)
    plan = forms.get("plan") or PlanForm(prefix="plan", formdata=None)
    plan.set_choices(methods)
    decision = forms.get("decision") or DecisionForm(prefix="decision", formdata=None)
    _decision_choices(decision, incident, policy)
    if not decision.is_submitted() or decision.expected_stage.data in (None, ""):
        decision.expected_stage.data = str(current.next_stage)
    follow_up = forms.get("follow_up") or FollowUpForm(prefix="followup", formdata=None)
    follow_up.set_choices(decisions.follow_up_results(incident, policy))
    note = forms.get("note") or NoteForm(prefix="note", formdata=None)
    entries = records.timeline(incident)
    note.corrects.choices = [SelectChoice(str(e.seq), gettext("Step %(seq)s", seq=e.seq))
                             for e in entries]
    check_rows = checks.checks_of(incident)
    still_to_do = [c for c in check_rows if not c.done and c.cancelled_at is None]
    result_forms = {c.id: (forms.get(f"check{c.id}") or
                           RecordForm(prefix=f"check{c.id}", formdata=None))
                    for c in still_to_do}
    move_forms = {c.id: (forms.get(f"move{c.id}") or
                         RescheduleForm(prefix=f"move{c.id}", formdata=None))
                  for c in still_to_do}
    cancel_forms = {c.id: (forms.get(f"cancel{c.id}") or
                           CancelForm(prefix=f"cancel{c.id}", formdata=None))
                    for c in still_to_do}
    check_events = {c.id: [e for e in entries if e.data.get("check_id") == c.id]
                    for c in check_rows}
    errors: dict[str, str] = {}
    for form in [*forms.values()]:
        errors.update(_errors(form))
    return render_template(
        "incidents/detail.html", incident=incident, placement=g.placement,
        person=g.launch.person, policy=policy, learner=incident.learner,
        settings=declarations.effective_settings(incident.placement),
        evidence=evidence.evidence_of(incident), checks=check_rows,
        answer=answers.answer_of(incident), timeline=entries, standing=current,
        next_meaning=ledger.stage_meaning(policy, current.next_stage),
        stage_meaning=(ledger.stage_meaning(policy, incident.stage)
                       if incident.stage else ""),
        evidence_form=forms.get("evidence") or EvidenceForm(prefix="evidence", formdata=None),
        plan_form=plan, result_forms=result_forms, move_forms=move_forms,
        cancel_forms=cancel_forms, decision_form=decision,
        check_parts={c.id: check_plans.record_parts(c) for c in check_rows},
        two_part_checks=policy.case_process.two_part_checks,
        check_comments={c.id: [e for e in check_events[c.id]
                               if e.kind == EV_CHECK_COMMENTED] for c in check_rows},
        clocks=clocks.case_clocks(incident, policy, events=entries),
        follow_up_form=follow_up,
        withdraw_form=forms.get("withdraw") or WithdrawForm(prefix="withdraw", formdata=None),
        note_form=note, errors=errors, state_label=records.state_label(incident),
        outcome=policy.rules.outcome(incident.stage_action or ""),
        next_consequence=ledger.stage_consequence(
            policy.rules, current.next_stage,
            declarations.effective_settings(incident.placement).qualification),
        decision_flags=partial(ledger.decision_flags, policy.rules),
        check_outcomes=checks.CHECK_OUTCOMES,
        file_hint=file_hint(), describe=partial(records.describe, rules=policy.rules),
        undecided=incident.state in UNDECIDED_STATES, answered=incident.state == ANSWERED,
        needs_follow_up=incident.state == FOLLOW_UP,
        context=safeguards.decision_context(incident),
        may_decide_without_answer=safeguards.may_decide_without_answer(incident),
        answer_files=(answers.learner_files(incident, FILE_FOR_ANSWER)
                      if incident.answered_at else []),
        letter=letters.decision_letter(incident, policy)), status


def _decision_choices(form: DecisionForm, incident: Incident, policy: policies.Policy) -> None:
    form.set_choices(standing.case_standing(incident).next,
                     poor_practice=safeguards.poor_practice_allowed(incident, policy),
                     sources=[(s.key, s.label) for s in safeguards.sources(incident)])


def _done(incident: Incident, message: str) -> ResponseReturnValue:
    flash(message, "success")
    return redirect(url_for("staff.incident", placement_id=g.placement.id,
                            incident_id=incident.id), code=303)


@bp.get("/placements/<int:placement_id>/incidents/<int:incident_id>")
@require(STAFF)
def incident(placement_id: int, incident_id: int) -> ResponseReturnValue:
    return _page(_incident(incident_id))


@bp.post("/placements/<int:placement_id>/incidents/<int:incident_id>/evidence")
@require(STAFF)
@once
def add_evidence(placement_id: int, incident_id: int) -> ResponseReturnValue:
    incident = _incident(incident_id)
    form = EvidenceForm(prefix="evidence")
    if form.validate_on_submit():
        filename, content = _upload(form.file.data)
        try:
            evidence.add_evidence(incident, g.launch.person, evidence.EvidenceInput(
                label=form.label.data or "", text=form.text.data or "", filename=filename,
                content=content, withheld=bool(form.withheld.data),
                withheld_reason=form.withheld_reason.data or ""))
        except IncidentError as exc:
            _attach(form, exc, {"evidence_text": "text", "evidence_file": "file",
                                "evidence_withheld_reason": "withheld_reason"})
        else:
            return _done(incident, gettext("Evidence added."))
    return _page(incident, status=400, evidence=form)


@bp.get("/placements/<int:placement_id>/incidents/<int:incident_id>/evidence/<int:evidence_id>")
@require(STAFF)
def download_evidence(placement_id: int, incident_id: int,
                      evidence_id: int) -> ResponseReturnValue:
    incident = _incident(incident_id)
    item = part_of(incident, db.session.get(EvidenceItem, evidence_id))
    if item.kind != EVIDENCE_FILE:
        abort(404)
    content = evidence.evidence_file(item)
    if content is None:
        abort(404)
    return uploads.download(content, item.content_type, item.filename or "evidence")


@bp.get("/placements/<int:placement_id>/incidents/<int:incident_id>/files/<int:file_id>")
@require(STAFF)
def download_learner_file(placement_id: int, incident_id: int,
                          file_id: int) -> ResponseReturnValue:
    """A file the learner sent with their answer (once sent) or their appeal."""
    incident = _incident(incident_id)
    row = part_of(incident, db.session.get(LearnerFile, file_id))
    if row.purpose == FILE_FOR_ANSWER and incident.answered_at is None:
        abort(404)  # still the learner's draft
    return uploads.download(answers.learner_file_content(row), row.content_type,
                            row.filename)


@bp.post("/placements/<int:placement_id>/incidents/<int:incident_id>/checks")
@require(STAFF)
@once
def plan_check(placement_id: int, incident_id: int) -> ResponseReturnValue:
    incident = _incident(incident_id)
    policy = standing.case_policy(incident)
    form = PlanForm(prefix="plan")
    form.set_choices([str(c) for c in policy["authenticity_checks"]])
    if form.validate_on_submit():
        try:
            checks.plan_check(incident, g.launch.person, policy,
                              method=form.method.data or "",
                              assessor=form.assessor.data or "",
                              schedule=form.schedule())
        except IncidentError as exc:
            _attach(form, exc)
        else:
            return _done(incident, gettext("Authenticity check planned. The learner has been "
                                           "emailed the details.") if form.planned_for.data
                         else gettext("Authenticity check planned."))
    return _page(incident, status=400, plan=form)


@bp.post("/placements/<int:placement_id>/incidents/<int:incident_id>/checks/<int:check_id>")
@require(STAFF)
@once
def record_check(placement_id: int, incident_id: int, check_id: int) -> ResponseReturnValue:
    incident = _incident(incident_id)
    check = part_of(incident, db.session.get(AuthenticityCheck, check_id))
    form = RecordForm(prefix=f"check{check.id}")
    if form.validate_on_submit():
        assert form.done_on.data is not None
        try:
            checks.record_check(check, g.launch.person, done_on=form.done_on.data,
                                conducted_by=form.conducted_by.data or "",
                                outcome=form.outcome.data or "",
                                notes=form.notes.data or "",
                                subject_knowledge=form.subject_knowledge.data or "",
                                production=form.production.data or "",
                                two_part=check.method in standing.case_policy(incident)
                                .case_process.two_part_checks)
        except IncidentError as exc:
            _attach(form, exc)
        else:
            return _done(incident, gettext("The %(method)s is recorded.", method=check.method))
    return _page(incident, status=400, **{f"check{check.id}": form})


@bp.post("/placements/<int:placement_id>/incidents/<int:incident_id>/decision")
@require(STAFF)
@once
def decide(placement_id: int, incident_id: int) -> ResponseReturnValue:
    incident = _incident(incident_id)
    policy = standing.case_policy(incident)
    form = DecisionForm(prefix="decision")
    _decision_choices(form, incident, policy)
    if form.validate_on_submit():
        expected = form.expected_stage.data or ""
        finding = safeguards.Finding(
            outcome=form.outcome.data or "", reasons=form.reasons.data or "",
            account_reasons=form.account_reasons.data or "",
            relied_on=tuple(form.relied_on.data or []),
            without_answer_reason=form.without_answer_reason.data or "",
            acknowledged=bool(form.acknowledged.data))
        try:
            if not confirmation.confirmed():
                # The confirmed POST checks again under the locks (a stage taken meanwhile
                # is a 409 there, not a form error here).
                safeguards.check_finding(incident, finding, policy)
                if finding.outcome == UPHELD:
                    ledger.outcome_for(policy.rules,
                                       standing.case_standing(incident).next_stage,
                                       form.stage_action.data or None)
                return confirmation.ask(
                    title=gettext("Record this decision: %(finding)s?",
                                  finding=safeguards.FINDING_LABELS[finding.outcome].lower()),
                    consequences=decisions.consequences(incident, finding, policy),
                    confirm_label=gettext("Record the decision and send the letter"),
                    cancel_url=url_for("staff.incident", placement_id=g.placement.id,
                                       incident_id=incident.id),
                    cancel_label=gettext("Go back and change it"))
            decisions.decide(incident, g.launch.person, outcome=finding.outcome,
                             reasons=finding.reasons, policy=policy,
                             stage_action=form.stage_action.data or None,
                             expected_stage=int(expected) if expected.isdigit() else None,
                             account_reasons=finding.account_reasons,
                             relied_on=finding.relied_on,
                             without_answer_reason=finding.without_answer_reason,
                             acknowledged=finding.acknowledged)
        except IncidentError as exc:
            _attach(form, exc)
        else:
            return _done(incident, gettext("Decision recorded. The learner has been told the "
                                           "outcome."))
    return _page(incident, status=400, decision=form)


@bp.post("/placements/<int:placement_id>/incidents/<int:incident_id>/follow-up")
@require(STAFF)
@once
def follow_up(placement_id: int, incident_id: int) -> ResponseReturnValue:
    incident = _incident(incident_id)
    form = FollowUpForm(prefix="followup")
    form.set_choices(decisions.follow_up_results(incident))
    if form.validate_on_submit():
        assert form.done_on.data is not None
        try:
            decisions.record_follow_up(incident, g.launch.person,
                                       result=form.result.data or "",
                                       notes=form.notes.data or "", done_on=form.done_on.data)
        except IncidentError as exc:
            _attach(form, exc)
        else:
            return _done(incident, gettext("Follow-up recorded; the incident is closed."))
    return _page(incident, status=400, follow_up=form)


@bp.post("/placements/<int:placement_id>/incidents/<int:incident_id>/withdraw")
@require(STAFF)
@once
def withdraw_decision(placement_id: int, incident_id: int) -> ResponseReturnValue:
    incident = _incident(incident_id)
    form = WithdrawForm(prefix="withdraw")
    if form.validate_on_submit():
        try:
            decisions.withdraw_decision(incident, g.launch.person, form.reason.data or "")
        except IncidentError as exc:
            _attach(form, exc)
        else:
            return _done(incident, gettext("Decision withdrawn. The incident is open to decide "
                                           "again."))
    return _page(incident, status=400, withdraw=form)


@bp.post("/placements/<int:placement_id>/incidents/<int:incident_id>/notes")
@require(STAFF)
@once
def add_note(placement_id: int, incident_id: int) -> ResponseReturnValue:
    incident = _incident(incident_id)
    form = NoteForm(prefix="note")
    form.corrects.choices = [SelectChoice(str(n), gettext("Step %(seq)s", seq=n))
                             for n in range(1, incident.last_seq + 1)]
    if form.validate_on_submit():
        corrects = form.corrects.data or ""
        try:
            records.add_note(incident, g.launch.person, form.text.data or "",
                             corrects=int(corrects) if corrects.isdigit() else None)
        except IncidentError as exc:
            _attach(form, exc)
        else:
            return _done(incident, gettext("Note added."))
    return _page(incident, status=400, note=form)
