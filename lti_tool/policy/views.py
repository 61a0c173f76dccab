"""The policy editor, for tool administrators and policy owners: start a draft version from
a published one, edit it section by section in forms, preview the learner's card and the
declaration as learners will see them, compare it with the published version, publish it,
and download any version's JSON. Published versions never change."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from lti_tool.declarations import statements
from lti_tool.declarations.forms import DeclarationForm
from lti_tool.policy import editor
from lti_tool.policy import service as policies
from lti_tool.policy.models import DRAFT, PolicyVersion
from lti_tool.reports import attachment
from lti_tool.roles.access import require_policy_owner
from lti_tool.submissions.guard import once

bp = Blueprint("policy_editor", __name__, url_prefix="/admin/policies")


class DraftForm(FlaskForm):
    version = StringField(lazy_gettext("Number of the new version"), validators=[
        DataRequired(lazy_gettext("Enter the new version's number, for example 1.1.")),
        Length(max=32)])


class PostForm(FlaskForm):
    """CSRF only: the section's inputs follow the format and are checked against it."""


def _actor() -> str:
    return f"person:{g.launch.person_id}"


def _version(version_id: int) -> PolicyVersion:
    found = policies.get_version(version_id)
    if found is None:
        abort(404)
    return found


def _draft(version_id: int) -> PolicyVersion:
    found = _version(version_id)
    if found.status != DRAFT:
        abort(404)
    return found


@bp.get("/")
@require_policy_owner
def index() -> str:
    by_reference: dict[str, list[PolicyVersion]] = {}
    for version in policies.versions():
        by_reference.setdefault(version.reference, []).append(version)
    return render_template("policy_editor/index.html", person=g.launch.person,
                           by_reference=by_reference, form=DraftForm(formdata=None))


@bp.get("/<int:version_id>")
@require_policy_owner
def version(version_id: int) -> str:
    found = _version(version_id)
    return render_template("policy_editor/version.html", person=g.launch.person,
                           version=found, policy=policies.as_policy(found),
                           sections=editor.SECTIONS, form=DraftForm(formdata=None))


@bp.post("/<int:version_id>/drafts")
@require_policy_owner
@once
def start_draft(version_id: int) -> ResponseReturnValue:
    source = _version(version_id)
    form = DraftForm()
    problem = None
    if form.validate_on_submit():
        try:
            draft = policies.start_draft(source, form.version.data or "", _actor())
        except policies.PolicyError as exc:
            problem = str(getattr(exc, "problems", [str(exc)])[0])
        else:
            flash(gettext("Draft %(draft)s started from %(source)s.", draft=draft.label,
                          source=source.label), "success")
            return redirect(url_for("policy_editor.version", version_id=draft.id), code=303)
    else:
        problem = next(iter(form.version.errors), None)
    return render_template("policy_editor/version.html", person=g.launch.person,
                           version=source, policy=policies.as_policy(source),
                           sections=editor.SECTIONS, form=form, draft_error=problem), 400


@bp.route("/<int:version_id>/edit/<section>", methods=["GET", "POST"])
@require_policy_owner
@once
def edit(version_id: int, section: str) -> ResponseReturnValue:
    draft = _draft(version_id)
    if section not in editor.SECTIONS:
        abort(404)
    data = json.loads(draft.content)
    problems: list[str] = []
    form = PostForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        # The inputs are named by their place in the format; the schema checks them all.
        data = editor.read_section(section, request.form, data)
        try:
            changed = policies.save_draft(draft, data, _actor())
        except policies.PolicyInvalid as exc:
            problems = exc.problems
        except policies.PolicyError as exc:
            problems = [str(exc)]
        else:
            flash(gettext("Saved.") if changed else gettext("Nothing changed."), "success")
            return redirect(url_for("policy_editor.version", version_id=draft.id), code=303)
    errors = _errors_by_path(problems)
    return render_template("policy_editor/edit.html", person=g.launch.person, version=draft,
                           section=section, title=editor.SECTIONS[section][0],
                           nodes=editor.form_nodes(section, data), errors=errors,
                           summary={editor.input_id(path): f"{path}: {message}"
                                    for path, message in errors.items()},
                           problems=problems, form=form), 400 if problems else 200


def _errors_by_path(problems: list[str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for problem in problems:
        path, _, message = problem.partition(": ")
        errors.setdefault(path, message)
    return errors


def _sample(policy: policies.Policy) -> dict[str, Any]:
    """What the learner's pages need, for an assignment allowing every permitted use."""
    placement = SimpleNamespace(id=0, display_name="Preview assignment")
    settings = SimpleNamespace(title="Preview assignment", guidance="", permitted_uses=None,
                               comprehension_check=False, configured=True)
    return {"policy": policy, "placement": placement, "settings": settings,
            "uses": policy.permitted(None), "authorisations": [], "person": g.launch.person}


@bp.get("/<int:version_id>/preview")
@require_policy_owner
def preview(version_id: int) -> str:
    found = _version(version_id)
    return render_template("policy_editor/preview.html", version=found,
                           **_sample(policies.as_policy(found)))


@bp.get("/<int:version_id>/preview/declaration")
@require_policy_owner
def preview_declaration(version_id: int) -> str:
    """The declaration page exactly as a learner gets it under this version (its form
    posts nowhere: the page is only shown)."""
    found = _version(version_id)
    policy = policies.as_policy(found)
    form = DeclarationForm(formdata=None)
    form.set_choices([(u.key, u.text) for u in policy.permitted_uses], [])
    form.set_statements([(s.key, s.text) for s in statements.confirmations(
        [], policy.declaration_statements)])
    return render_template("learner/declare.html", form=form, errors={}, previous=None,
                           status=SimpleNamespace(latest=None), preview=True,
                           **_sample(policy))


@bp.get("/<int:version_id>/compare")
@require_policy_owner
def compare(version_id: int) -> str:
    found = _version(version_id)
    published = policies.published_version(found.reference)
    changes = editor.compare(json.loads(published.content) if published else {},
                             json.loads(found.content))
    return render_template("policy_editor/compare.html", person=g.launch.person,
                           version=found, published=published, changes=changes,
                           form=PostForm(formdata=None))


@bp.post("/<int:version_id>/publish")
@require_policy_owner
@once
def publish(version_id: int) -> ResponseReturnValue:
    draft = _draft(version_id)
    if not PostForm().validate_on_submit():
        abort(400)
    published = policies.published_version(draft.reference)
    changes = editor.compare(json.loads(published.content) if published else {},
                             json.loads(draft.content))
    policies.publish_version(draft, _actor(), [c.title for c in changes])
    facing = editor.learner_changes(json.loads(published.content) if published else {},
                                    json.loads(draft.content))
    flash(gettext("Published %(label)s. Learners who declared under an earlier version are "
                  "asked to declare again: what changed for them: %(changes)s.",
                  label=draft.label, changes=", ".join(facing)) if facing else gettext(
        "Published %(label)s. Learners who declared under an earlier version are asked to "
        "declare again (nothing they read has changed).", label=draft.label), "success")
    return redirect(url_for("policy_editor.version", version_id=draft.id), code=303)


@bp.get("/<int:version_id>/download")
@require_policy_owner
def download(version_id: int) -> ResponseReturnValue:
    found = _version(version_id)
    text = json.dumps(json.loads(found.content), ensure_ascii=False, indent=2) + "\n"
    return attachment(text, "application/json",
                      f"{found.reference}-{found.version}.json".lower())
