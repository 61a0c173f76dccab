"""Tool administrators' privacy pages (routes on the admin blueprint): the retention
schedule with what is due, held and disposed of; legal holds; and, per person, a
subject-access export and an erasure request."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import DateField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from lti_tool.admin.views import bp
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.people.models import Person
from lti_tool.privacy import erasure, export, retention, schedule
from lti_tool.privacy.models import LegalHold
from lti_tool.privacy.views import export_response
from lti_tool.roles.access import require_tool_admin


class HoldForm(FlaskForm):
    reason = TextAreaField(lazy_gettext("Why the records must be kept"), validators=[
        DataRequired(lazy_gettext("Enter the reason for the hold.")),
        Length(max=2000, message=lazy_gettext("The reason must be 2,000 characters or fewer."))])


class ErasureForm(FlaskForm):
    received_on = DateField(lazy_gettext("Date the learner asked"), validators=[
        DataRequired(lazy_gettext("Enter the date the request was received, e.g. 2026-12-01."))])
    confirm = StringField(lazy_gettext("Type ERASE to confirm"), validators=[
        DataRequired(lazy_gettext("Type ERASE to confirm."))])


class PlainForm(FlaskForm):
    pass


def _person(person_id: int) -> Person:
    """A person of the administrator's own platform, or 404."""
    person = db.session.get(Person, person_id)
    if person is None or person.platform_id != g.launch.platform_id:
        abort(404)
    return person


@bp.get("/privacy")
@require_tool_admin
def privacy() -> str:
    now = utcnow()
    platform_id = g.launch.platform_id
    due = retention.candidates(now, platform_id=platform_id)
    names = {p.id: p.display_name for p in db.session.scalars(
        sa.select(Person).where(Person.id.in_({c.person_id for c in due if c.person_id})))}
    query = (request.args.get("q") or "").strip()[:200]
    return render_template(
        "admin/privacy.html", person=g.launch.person, schedule=schedule.describe(),
        due=[c for c in due if not c.held], held=[c for c in due if c.held], names=names,
        disposed=retention.recent_disposals(platform_id),
        holds=retention.active_holds(platform_id), plain=PlainForm(formdata=None),
        query=query, found=_search(query) if query else None, now=now)


def _search(query: str) -> list[Person]:
    pattern = f"%{query.lower()}%"
    return list(db.session.scalars(
        sa.select(Person).where(Person.platform_id == g.launch.platform_id,
                                sa.or_(Person.sub == query,
                                       sa.func.lower(Person.name).like(pattern),
                                       sa.func.lower(Person.email).like(pattern)))
        .order_by(Person.name).limit(20)))


def _person_page(person: Person, hold_form: HoldForm | None = None,
                 erasure_form: ErasureForm | None = None) -> str:
    return render_template(
        "admin/privacy_person.html", person=g.launch.person, subject=person,
        plan=erasure.plan(person), holds=[h for h in retention.active_holds(person.platform_id)
                                          if h.person_id == person.id],
        hold_form=hold_form or HoldForm(formdata=None, prefix="hold"),
        erasure_form=erasure_form or ErasureForm(formdata=None, prefix="erase",
                                                 received_on=utcnow().date()),
        plain=PlainForm(formdata=None))


@bp.get("/privacy/people/<int:person_id>")
@require_tool_admin
def privacy_person(person_id: int) -> str:
    return _person_page(_person(person_id))


@bp.post("/privacy/people/<int:person_id>/export")
@require_tool_admin
def privacy_export(person_id: int) -> ResponseReturnValue:
    person = _person(person_id)
    if not PlainForm().validate_on_submit():
        abort(400)
    content, _ = export.build_zip(person, requested_by="administrator",
                                  actor=f"person:{g.launch.person_id}")
    return export_response(content)


@bp.post("/privacy/people/<int:person_id>/holds")
@require_tool_admin
def privacy_hold(person_id: int) -> ResponseReturnValue:
    person = _person(person_id)
    form = HoldForm(prefix="hold")
    if not form.validate_on_submit():
        return _person_page(person, hold_form=form), 400
    retention.place_hold(person, form.reason.data or "", g.launch.person)
    flash(gettext("Nothing about %(name)s will be disposed of until you release the hold.",
                  name=person.display_name), "success")
    return redirect(url_for("admin.privacy_person", person_id=person.id), code=303)


@bp.post("/privacy/holds/<int:hold_id>/release")
@require_tool_admin
def privacy_release(hold_id: int) -> BaseResponse:
    hold = db.session.get(LegalHold, hold_id)
    if hold is None or hold.platform_id != g.launch.platform_id or not hold.active:
        abort(404)
    if not PlainForm().validate_on_submit():
        abort(400)
    retention.release_hold(hold, g.launch.person)
    flash(gettext("Hold released: the schedule applies again."), "success")
    return redirect(url_for("admin.privacy_person", person_id=hold.person_id), code=303)


@bp.post("/privacy/people/<int:person_id>/erase")
@require_tool_admin
def privacy_erase(person_id: int) -> ResponseReturnValue:
    person = _person(person_id)
    form = ErasureForm(prefix="erase")
    if not form.validate_on_submit():
        return _person_page(person, erasure_form=form), 400
    if (form.confirm.data or "").strip().upper() != "ERASE":
        form.confirm.errors = [*form.confirm.errors, gettext("Type ERASE to confirm.")]
        return _person_page(person, erasure_form=form), 400
    if form.received_on.data is None or form.received_on.data > utcnow().date():
        form.received_on.errors = [*form.received_on.errors,
                                   gettext("The date cannot be in the future.")]
        return _person_page(person, erasure_form=form), 400
    if person.id == g.launch.person_id:
        abort(403)
    done = erasure.carry_out(person, g.launch.person, form.received_on.data)
    flash(gettext("Erasure carried out. The learner has been emailed what was kept and why.")
          if done.emailed else gettext("Erasure carried out. Moodle gave no email address for "
                                       "them: tell them what was kept and why."), "success")
    return redirect(url_for("admin.privacy_person", person_id=person.id), code=303)
