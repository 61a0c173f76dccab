"""The learner's declarations (routes on the learner blueprint): the comprehension check
when the assignment asks for it, the declaration before starting, and the declaration of
authentication once the work is submitted."""

from __future__ import annotations

import json

from flask import flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from lti_tool.declarations import authentication, awareness, statements
from lti_tool.declarations import service as declarations
from lti_tool.declarations.forms import AuthenticationForm, DeclarationForm, comprehension_form
from lti_tool.learner.views import bp
from lti_tool.people.access import require
from lti_tool.people.roles import LEARNER
from lti_tool.policy import service as policies
from lti_tool.submissions.guard import once


def _input(form: DeclarationForm) -> declarations.DeclarationInput:
    uses = list(form.permitted_uses.data or [])
    tools = declarations.parse_tools(form.ai_tools.data or "")
    answered = form.uses_ai.data in ("yes", "no")
    return declarations.DeclarationInput(
        # Unanswered: the form says "Choose Yes or No"; the rest is checked as if the
        # learner meant what else they filled in.
        uses_ai=form.uses_ai.data == "yes" if answered else bool(uses or tools),
        permitted_uses=uses, ai_tools=tools,
        confirmed_no_personal_data=bool(form.confirmed_no_personal_data.data),
        confirmed_no_ai_after_start=bool(form.confirmed_no_ai_after_start.data),
        confirmed_own_work=bool(form.confirmed_own_work.data),
        signature=form.signature.data or "",
        authorisation_ids=[int(a) for a in form.authorisations.data or [] if a.isdigit()])


def _prefill(form: DeclarationForm, previous: declarations.Declaration) -> None:
    """A change starts from the current declaration (confirmations and signature are
    given afresh)."""
    form.uses_ai.data = "yes" if previous.uses_ai else "no"
    form.permitted_uses.data = json.loads(previous.permitted_uses)
    form.ai_tools.data = "\n".join(json.loads(previous.ai_tools))


@bp.route("/placements/<int:placement_id>/declare", methods=["GET", "POST"])
@require(LEARNER)
@once
def declare(placement_id: int) -> ResponseReturnValue:
    person = g.launch.person
    settings = declarations.effective_settings(g.placement)
    policy = declarations.placement_policy(g.placement, settings)
    comprehension = None
    if awareness.needed(settings.comprehension_check, policy):
        comprehension = awareness.result(person, g.placement, policy)
        if comprehension is None:
            return redirect(url_for("learner.check", placement_id=placement_id), code=303)
    uses = policy.permitted(settings.permitted_uses)
    held = statements.available_authorisations(person, g.placement.id)
    form = DeclarationForm()
    form.set_choices([(u.key, u.text) for u in uses], [])
    form.set_statements([(s.key, s.text)
                         for s in statements.confirmations(
                             [a.use for a in held], policy.declaration_statements)])
    previous = declarations.latest(person.id, g.placement.id)
    if not form.is_submitted() and previous is not None:
        _prefill(form, previous)
    errors: dict[str, str] = {}
    if form.is_submitted():
        form.validate()
        errors = {name: messages[0] for name, messages in form.errors.items() if messages}
        data = _input(form)
        for problem in declarations.check(data, person, settings, policy, held):
            errors.setdefault(problem.field, problem.message)
        if not errors:
            try:
                declaration = declarations.declare(person, g.placement, data, policy,
                                                   comprehension=comprehension)
            except declarations.DeclarationConflict:
                errors["uses_ai"] = ("Another declaration for this assignment was saved at "
                                     "the same moment. Check your declarations and try again.")
            else:
                return redirect(url_for("learner.receipt", declaration_id=declaration.id),
                                code=303)
    return render_template("learner/declare.html", form=form, placement=g.placement,
                           person=person, policy=policy, settings=settings, uses=uses,
                           errors=errors, authorisations=held, previous=previous,
                           status=declarations.status(previous, policy)), (
        400 if errors else 200)


@bp.route("/placements/<int:placement_id>/check", methods=["GET", "POST"])
@require(LEARNER)
@once
def check(placement_id: int) -> ResponseReturnValue:
    """The comprehension check: a wrong answer shows the policy's reason; the learner tries
    again until every answer is right, then declares."""
    settings = declarations.effective_settings(g.placement)
    policy = declarations.placement_policy(g.placement, settings)
    person = g.launch.person
    questions = awareness.questions(policy)
    form = comprehension_form([(q.key, q.question, q.choices) for q in questions])
    wrong: list[awareness.Question] = []
    if form.validate_on_submit():
        answers = {q.key: str(form[f"q_{q.key}"].data or "") for q in questions}
        wrong = awareness.attempt(person, g.placement, policy, answers)
        if not wrong:
            flash(gettext("You answered every question correctly. Now make your declaration."),
                  "success")
            return redirect(url_for("learner.declare", placement_id=placement_id), code=303)
    # A wrong answer is recorded (the page is a 200 so that the attempt is kept).
    return render_template("learner/check.html", form=form, questions=questions,
                           wrong={q.key for q in wrong}, placement=g.placement,
                           person=person, policy=policy, settings=settings)


@bp.route("/placements/<int:placement_id>/authenticate", methods=["GET", "POST"])
@require(LEARNER)
@once
def authenticate(placement_id: int) -> ResponseReturnValue:
    policy = declarations.placement_policy(g.placement)
    person = g.launch.person
    declaration = declarations.latest(person.id, g.placement.id)
    if declaration is None:
        return redirect(url_for("learner.declare", placement_id=placement_id), code=303)
    done = authentication.authentication_of(declaration)
    form = AuthenticationForm()
    errors: dict[str, str] = {}
    if request.method == "POST" and done is None:
        form.validate()
        errors = {name: messages[0] for name, messages in form.errors.items() if messages}
        for problem in authentication.check(person, declaration,
                                            confirmed=bool(form.confirmed.data),
                                            signature=form.signature.data or ""):
            errors.setdefault(problem.field, problem.message)
        if not errors:
            declared_policy = policies.by_id(declaration.policy_version_id) or policy
            try:
                authentication.authenticate(person, g.placement, declaration, declared_policy,
                                            confirmed=True, signature=form.signature.data or "")
            except authentication.AuthenticationError as exc:
                errors[exc.field] = exc.message
            else:
                flash(gettext("Your declaration of authentication is recorded."), "success")
                return redirect(url_for("learner.placement", placement_id=placement_id),
                                code=303)
    return render_template("learner/authenticate.html", form=form, errors=errors,
                           declaration=declaration, done=done,
                           statement=done.statement if done else
                           authentication.statement_for(declaration),
                           placement=g.placement, person=person, policy=policy,
                           settings=declarations.effective_settings(g.placement)), (
        400 if errors else 200)
