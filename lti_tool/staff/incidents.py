"""Staff pages for incidents (routes on the staff blueprint): recording an incident from a
learner's panel, the incident's page with its evidence, checks, the learner's answer, the
decision and the follow-up, and evidence downloads."""

from __future__ import annotations

import io
import re
from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from werkzeug.datastructures import FileStorage
from wtforms.fields.choices import SelectChoice

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
    standing,
)
from lti_tool.cases.check_forms import CancelForm, PlanForm, RecordForm, RescheduleForm
from lti_tool.cases.errors import IncidentError
from lti_tool.cases.forms import (
    FILE_HINT,
    DecisionForm,
    EvidenceForm,
    FollowUpForm,
    IncidentForm,
    NoteForm,
    WithdrawForm,
)
from lti_tool.cases.models import (
    ANSWERED,
    EV_CHECK_COMMENTED,
    EVIDENCE_FILE,
    FOLLOW_UP,
    SOURCE_CHECKER,
    UNDECIDED_STATES,
    UPHELD,
    AuthenticityCheck,
    EvidenceItem,
    Incident,
)
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
# Room for the form's other fields on top of the file itself.
_FORM_ALLOWANCE = 512 * 1024


@bp.url_value_preprocessor
def _allow_uploads(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # Runs before the CSRF check reads the body: only the evidence upload pages accept more
    # than MAX_CONTENT_LENGTH (the launch endpoint and every other page keep it).
    if endpoint in UPLOAD_ENDPOINTS:
        limit = int(current_app.config["INCIDENT_MAX_UPLOAD_BYTES"])
        # The confirmation page sends the file again in a form field, base64 encoded.
        carried = limit * 4 // 3 + 4 + _FORM_ALLOWANCE
        request.max_content_length = carried + _FORM_ALLOWANCE
        request.max_form_memory_size = carried


def _file_hint() -> str:
    limit = int(current_app.config["INCIDENT_MAX_UPLOAD_BYTES"])
    return FILE_HINT.format(limit=evidence.size_label(limit))


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
    policy = policies.current_or_bundled()
    history = declarations.history(person.id, g.placement.id)
    elsewhere = [(p, h) for p, h in declarations.histories(person.id)
                 if p.id != g.placement.id]
    staff_courses = access.staff_course_ids(viewer)
    everything = access.can_see_everything(viewer)
    cases = [(i, access.full_detail(viewer, i, staff_courses, everything))
             for i in answers.incidents_of(person)]
    current = standing.standing(person)
    return render_template(
        "staff/learner.html", placement=g.placement, learner=person, person=viewer,
        policy=policy, history=history, status=declarations.status(
            history[0] if history else None, policy),
        elsewhere=elsewhere, cases=cases, standing=current,
        next_meaning=ledger.stage_meaning(policy, current.next_stage),
        state_label=records.state_label)


# --- recording an incident ---------------------------------------------------------------------

@bp.route("/placements/<int:placement_id>/learners/<int:person_id>/incidents/new",
          methods=["GET", "POST"])
@require(STAFF)
@once
def new_incident(placement_id: int, person_id: int) -> ResponseReturnValue:
    learner = viewable_learner(person_id)
    policy = policies.current_or_bundled()
    methods = [str(c) for c in policy["authenticity_checks"]]
    form = IncidentForm()
    form.set_choices(access.checkers(), methods)
    if form.validate_on_submit():
        filename, content = confirmation.uploaded_file(form.evidence_file.name)
        items = []
        if (form.evidence_text.data or "").strip() or filename:
            items.append(evidence.EvidenceInput(
                label=form.evidence_label.data or "", text=form.evidence_text.data or "",
                filename=filename, content=content))
        source = form.source.data or ""

        def record() -> Incident:
            return raising.raise_incident(
                placement=g.placement, learner=learner, raised_by=g.launch.person,
                source=SOURCE_CHECKER if source in access.checkers() else source,
                checker=source if source in access.checkers() else None,
                checker_result=form.checker_result.data or "",
                observations=form.observations.data or "", evidence=items,
                planned_checks=list(form.planned_checks.data or []), policy=policy)

        try:
            if not confirmation.confirmed():
                rehearsal = confirmation.rehearse(lambda: bool(
                    letters.learner_email(record())))
                return _confirm_incident(learner, rehearsal)
            incident = record()
        except IncidentError as exc:
            _attach(form, exc)
        else:
            flash(f"Incident recorded. {learner.display_name} has been asked how this could "
                  "have occurred." if letters.learner_email(incident) else
                  f"Incident recorded. Moodle has no usable email address for "
                  f"{learner.display_name}: they will see the question when they next open "
                  "the activity.", "success")
            return redirect(url_for("staff.incident", placement_id=placement_id,
                                    incident_id=incident.id), code=303)
    errors = _errors(form)
    return render_template("incidents/new.html", form=form, errors=errors, learner=learner,
                           placement=g.placement, person=g.launch.person, policy=policy,
                           settings=declarations.effective_settings(g.placement),
                           standing=standing.standing(learner), file_hint=_file_hint(),
                           checkers=access.checkers()), (400 if errors else 200)


_ANSWER_LINK = re.compile(r"\S+/answer/[\w-]+")


def _confirm_incident(learner: Person,
                      rehearsal: confirmation.Rehearsal[bool]) -> ResponseReturnValue:
    """The confirmation page of a new incident: what recording it does, and the email the
    learner will get (its answer link, theirs alone, is not shown)."""
    current = standing.standing(learner)
    emailed = rehearsal.value and bool(rehearsal.emails)
    lines = [
        f"{learner.display_name} is emailed now and asked how this could have occurred "
        "(the email is below)." if emailed else
        f"Moodle has no usable email address for {learner.display_name}: they see the "
        "question when they next open the activity.",
        "Nothing is decided yet: you decide after reading their answer and the authenticity "
        "checks.",
        f"If you uphold it, {learner.display_name} reaches Stage {current.next_stage}"
        f"{' again' if current.next_is_repeat else ''} across all their courses.",
        "The incident and its evidence are kept; a record cannot be deleted.",
    ]
    preview = None
    if emailed:
        email = rehearsal.emails[0]
        preview = confirmation.Preview(email.to, email.subject, _ANSWER_LINK.sub(
            f"[a link that works once, for {learner.display_name} only]", email.body))
    return confirmation.ask(
        title=f"Record this incident for {learner.display_name}?", consequences=lines,
        confirm_label="Record the incident and ask the learner" if emailed else
        "Record the incident",
        cancel_url=url_for("staff.learner", placement_id=g.placement.id,
                           person_id=learner.id),
        cancel_label=f"Cancel and go back to {learner.display_name}", preview=preview)


# --- the incident page -------------------------------------------------------------------------

def _page(incident: Incident, *, status: int = 200, **forms: Any) -> ResponseReturnValue:
    policy = policies.current_or_bundled()
    methods = [str(c) for c in policy["authenticity_checks"]]
    current = standing.standing(incident.learner)
    plan = forms.get("plan") or PlanForm(prefix="plan", formdata=None)
    plan.set_choices(methods)
    decision = forms.get("decision") or DecisionForm(prefix="decision", formdata=None)
    decision.set_choices(current.next_stage)
    if not decision.is_submitted() or decision.expected_stage.data in (None, ""):
        decision.expected_stage.data = str(current.next_stage)
    follow_up = forms.get("follow_up") or FollowUpForm(prefix="followup", formdata=None)
    follow_up.set_choices(decisions.FOLLOW_UP_RESULTS.get(incident.stage or 0, {}))
    note = forms.get("note") or NoteForm(prefix="note", formdata=None)
    entries = records.timeline(incident)
    note.corrects.choices = [SelectChoice(str(e.seq), f"Step {e.seq}") for e in entries]
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
        check_comments={c.id: [e for e in check_events[c.id]
                               if e.kind == EV_CHECK_COMMENTED] for c in check_rows},
        clocks=clocks.case_clocks(incident, policy, events=entries),
        follow_up_form=follow_up,
        withdraw_form=forms.get("withdraw") or WithdrawForm(prefix="withdraw", formdata=None),
        note_form=note, errors=errors, state_label=records.state_label(incident),
        action_labels=ledger.ACTION_LABELS, check_outcomes=checks.CHECK_OUTCOMES,
        follow_up_results=decisions.FOLLOW_UP_RESULTS, file_hint=_file_hint(),
        describe=records.describe,
        undecided=incident.state in UNDECIDED_STATES, answered=incident.state == ANSWERED,
        needs_follow_up=incident.state == FOLLOW_UP), status


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
                content=content))
        except IncidentError as exc:
            _attach(form, exc, {"evidence_text": "text", "evidence_file": "file"})
        else:
            return _done(incident, "Evidence added.")
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
    response = send_file(io.BytesIO(content), mimetype=item.content_type,
                         as_attachment=True, download_name=item.filename or "evidence",
                         conditional=False, etag=False, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/placements/<int:placement_id>/incidents/<int:incident_id>/checks")
@require(STAFF)
@once
def plan_check(placement_id: int, incident_id: int) -> ResponseReturnValue:
    incident = _incident(incident_id)
    policy = policies.current_or_bundled()
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
            return _done(incident, "Authenticity check planned." + (
                " The learner has been emailed the details." if form.planned_for.data
                else ""))
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
                                production=form.production.data or "")
        except IncidentError as exc:
            _attach(form, exc)
        else:
            return _done(incident, f"The {check.method} is recorded.")
    return _page(incident, status=400, **{f"check{check.id}": form})


@bp.post("/placements/<int:placement_id>/incidents/<int:incident_id>/decision")
@require(STAFF)
@once
def decide(placement_id: int, incident_id: int) -> ResponseReturnValue:
    incident = _incident(incident_id)
    policy = policies.current_or_bundled()
    form = DecisionForm(prefix="decision")
    form.set_choices(standing.standing(incident.learner).next_stage)
    if form.validate_on_submit():
        expected = form.expected_stage.data or ""

        def record() -> int | None:
            decisions.decide(incident, g.launch.person, outcome=form.outcome.data or "",
                             reasons=form.reasons.data or "", policy=policy,
                             stage_action=form.stage_action.data or None,
                             expected_stage=int(expected) if expected.isdigit() else None,
                             without_answer=bool(form.without_answer.data))
            return incident.stage

        try:
            if not confirmation.confirmed():
                stage = confirmation.rehearse(record).value
                return _confirm_decision(incident, form.outcome.data or "", stage, policy)
            record()
        except IncidentError as exc:
            _attach(form, exc)
        else:
            return _done(incident, "Decision recorded. The learner has been told the "
                         "outcome.")
    return _page(incident, status=400, decision=form)


def _confirm_decision(incident: Incident, outcome: str, stage: int | None,
                      policy: policies.Policy) -> ResponseReturnValue:
    learner = incident.learner.display_name
    emailed = bool(letters.learner_email(incident))
    told = (f"{learner} is emailed the outcome and your reasons." if emailed else
            f"{learner} sees the outcome and your reasons when they next open the activity "
            "(Moodle has no usable email address for them).")
    if outcome == UPHELD and stage:
        title = f"Uphold this incident: {learner} reaches Stage {stage}?"
        lines = [f"{learner} reaches Stage {stage} across all their courses. The policy "
                 f"says: “{ledger.stage_meaning(policy, stage)}”", told,
                 "The stage shows on their panel and in the activity's gradebook feedback.",
                 "A decision can later be withdrawn (with a reason), never deleted."]
        label = f"Uphold: Stage {stage}"
    else:
        title = "Close this incident as not upheld?"
        lines = ["The incident is closed. It does not count towards a stage.", told,
                 "A decision can later be withdrawn (with a reason), never deleted."]
        label = "Close as not upheld"
    return confirmation.ask(
        title=title, consequences=lines, confirm_label=label, danger=outcome == UPHELD,
        cancel_url=url_for("staff.incident", placement_id=g.placement.id,
                           incident_id=incident.id))


@bp.post("/placements/<int:placement_id>/incidents/<int:incident_id>/follow-up")
@require(STAFF)
@once
def follow_up(placement_id: int, incident_id: int) -> ResponseReturnValue:
    incident = _incident(incident_id)
    form = FollowUpForm(prefix="followup")
    form.set_choices(decisions.FOLLOW_UP_RESULTS.get(incident.stage or 0, {}))
    if form.validate_on_submit():
        assert form.done_on.data is not None
        try:
            decisions.record_follow_up(incident, g.launch.person,
                                       result=form.result.data or "",
                                       notes=form.notes.data or "", done_on=form.done_on.data)
        except IncidentError as exc:
            _attach(form, exc)
        else:
            return _done(incident, "Follow-up recorded; the incident is closed.")
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
            return _done(incident, "Decision withdrawn. The incident is open to decide "
                         "again.")
    return _page(incident, status=400, withdraw=form)


@bp.post("/placements/<int:placement_id>/incidents/<int:incident_id>/notes")
@require(STAFF)
@once
def add_note(placement_id: int, incident_id: int) -> ResponseReturnValue:
    incident = _incident(incident_id)
    form = NoteForm(prefix="note")
    form.corrects.choices = [SelectChoice(str(n), f"Step {n}")
                             for n in range(1, incident.last_seq + 1)]
    if form.validate_on_submit():
        corrects = form.corrects.data or ""
        try:
            records.add_note(incident, g.launch.person, form.text.data or "",
                             corrects=int(corrects) if corrects.isdigit() else None)
        except IncidentError as exc:
            _attach(form, exc)
        else:
            return _done(incident, "Note added.")
    return _page(incident, status=400, note=form)
