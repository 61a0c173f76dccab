"""Pages for learners, inside the Moodle assignment: the policy for this assignment, the
full policy, and the receipt of a declaration. Making the declaration, the comprehension
check and the authentication at submission are in :mod:`lti_tool.learner.declaring`."""

from __future__ import annotations

import json

from flask import Blueprint, abort, g, render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from lti_tool.cases.check_plans import learner_checks
from lti_tool.cases.learner_view import open_cases
from lti_tool.declarations import authentication, awareness, statements
from lti_tool.declarations import service as declarations
from lti_tool.declarations.models import CARD_VIEWED, FULL_POLICY_OPENED, Declaration
from lti_tool.extensions import db
from lti_tool.gradesync.service import score_state
from lti_tool.lti.exceptions import AccessDenied
from lti_tool.people.access import require
from lti_tool.people.roles import LEARNER
from lti_tool.policy import editor
from lti_tool.policy import service as policies

bp = Blueprint("learner", __name__, url_prefix="/learner")


@bp.get("/placements/<int:placement_id>")
@require(LEARNER)
def placement(placement_id: int) -> str:
    person = g.launch.person
    settings = declarations.effective_settings(g.placement)
    policy = declarations.placement_policy(g.placement, settings)
    history = declarations.history(person.id, g.placement.id)
    state = declarations.status(history[0] if history else None, policy)
    awareness.record(person, g.placement, policy, CARD_VIEWED)
    changed: list[str] = []
    if state.state == "outdated" and history:
        declared = policies.by_id(history[0].policy_version_id)
        if declared is not None:
            changed = editor.learner_changes(declared.data, policy.data)
    return render_template("learner/placement.html", placement=g.placement, person=person,
                           policy=policy, settings=settings, status=state, history=history,
                           changed=changed,
                           uses=policy.permitted(settings.permitted_uses),
                           authorisations=statements.available_on_page(person, g.placement.id),
                           authenticated=authentication.authentication_of(history[0])
                           if history else None,
                           open_cases=open_cases(person), checks=learner_checks(person))


@bp.get("/placements/<int:placement_id>/policy")
@require(LEARNER)
def full_policy(placement_id: int) -> str:
    settings = declarations.effective_settings(g.placement)
    policy = declarations.placement_policy(g.placement, settings)
    awareness.record(g.launch.person, g.placement, policy, FULL_POLICY_OPENED)
    return render_template("learner/policy.html", policy=policy, placement=g.placement,
                           person=g.launch.person, settings=settings)


@bp.get("/declarations/<int:declaration_id>")
@require(LEARNER)
def receipt(declaration_id: int) -> ResponseReturnValue:
    declaration = db.session.get(Declaration, declaration_id)
    if declaration is None:
        abort(404)
    if declaration.person_id != g.launch.person_id:
        raise AccessDenied("not_your_declaration",
                           gettext("You can only see your own declarations."))
    policy = policies.by_id(declaration.policy_version_id)
    assert policy is not None
    return render_template("learner/receipt.html", declaration=declaration, policy=policy,
                           person=g.launch.person, placement=declaration.placement,
                           uses=policy.permitted(json.loads(declaration.permitted_uses)),
                           tools=json.loads(declaration.ai_tools),
                           settings=declarations.effective_settings(declaration.placement),
                           confirmed=statements.confirmed_texts(declaration.statements),
                           cited=statements.cited_authorisations(declaration),
                           authenticated=authentication.authentication_of(declaration),
                           sync=score_state(declaration.placement, declaration.person.sub,
                                            declaration.created_at))
