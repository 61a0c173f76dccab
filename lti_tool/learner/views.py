"""Pages for learners, inside the Moodle assignment: the policy for this assignment, the
declaration and its receipt."""

from __future__ import annotations

import json

from flask import Blueprint, abort, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from lti_tool.declarations import service as declarations
from lti_tool.declarations.forms import DeclarationForm
from lti_tool.declarations.models import Declaration
from lti_tool.extensions import db
from lti_tool.incidents import service as incidents
from lti_tool.lti.exceptions import AccessDenied
from lti_tool.people.access import require
from lti_tool.people.roles import LEARNER
from lti_tool.policy import service as policies
from lti_tool.submissions.guard import once

bp = Blueprint("learner", __name__, url_prefix="/learner")


@bp.get("/placements/<int:placement_id>")
@require(LEARNER)
def placement(placement_id: int) -> str:
    policy = policies.current_or_bundled()
    person = g.launch.person
    settings = declarations.effective_settings(g.placement)
    history = declarations.history(person.id, g.placement.id)
    state = declarations.status(history[0] if history else None, policy)
    return render_template("learner/placement.html", placement=g.placement, person=person,
                           policy=policy, settings=settings, status=state, history=history,
                           uses=policy.permitted(settings.permitted_uses),
                           questions=incidents.waiting_on_learner(person))


@bp.route("/placements/<int:placement_id>/declare", methods=["GET", "POST"])
@require(LEARNER)
@once
def declare(placement_id: int) -> ResponseReturnValue:
    policy = policies.current_or_bundled()
    person = g.launch.person
    settings = declarations.effective_settings(g.placement)
    uses = policy.permitted(settings.permitted_uses)
    authorisations = declarations.available_authorisations(person, g.placement)
    form = DeclarationForm()
    form.set_choices([(u.key, u.text) for u in uses],
                     [(str(a.id), a.label) for a in authorisations])
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        data = declarations.DeclarationInput(
            uses_ai=form.uses_ai.data == "yes",
            permitted_uses=list(form.permitted_uses.data or []),
            ai_tools=declarations.parse_tools(form.ai_tools.data or ""),
            confirmed_no_personal_data=bool(form.confirmed_no_personal_data.data),
            confirmed_no_ai_after_start=bool(form.confirmed_no_ai_after_start.data),
            confirmed_own_work=bool(form.confirmed_own_work.data),
            signature=form.signature.data or "",
            authorisation_ids=[int(a) for a in form.authorisations.data or []
                               if a.isdigit() and int(a) in {x.id for x in authorisations}],
        )
        problems = declarations.check(data, person, settings, policy)
        if not problems:
            try:
                declaration = declarations.declare(person, g.placement, data, policy)
            except declarations.DeclarationConflict:
                errors["uses_ai"] = ("Another declaration for this assignment was saved at "
                                     "the same moment. Check your declarations and try again.")
            else:
                return redirect(url_for("learner.receipt", declaration_id=declaration.id),
                                code=303)
        for problem in problems:
            errors.setdefault(problem.field, problem.message)
    elif form.is_submitted():
        errors = {name: messages[0] for name, messages in form.errors.items()}
    return render_template("learner/declare.html", form=form, placement=g.placement,
                           person=person, policy=policy, settings=settings, uses=uses,
                           errors=errors, authorisations=authorisations,
                           status=declarations.status(
                               declarations.latest(person.id, g.placement.id), policy)), (
        400 if errors else 200)


@bp.get("/declarations/<int:declaration_id>")
@require(LEARNER)
def receipt(declaration_id: int) -> str:
    declaration = db.session.get(Declaration, declaration_id)
    if declaration is None:
        abort(404)
    if declaration.person_id != g.launch.person_id:
        raise AccessDenied("not_your_declaration", "You can only see your own declarations.")
    policy = policies.by_id(declaration.policy_version_id)
    assert policy is not None
    return render_template("learner/receipt.html", declaration=declaration, policy=policy,
                           person=g.launch.person, placement=declaration.placement,
                           uses=policy.permitted(json.loads(declaration.permitted_uses)),
                           tools=json.loads(declaration.ai_tools),
                           settings=declarations.effective_settings(declaration.placement),
                           cited=declarations.cited_authorisations(declaration))
