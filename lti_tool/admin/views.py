"""Pages for tool administrators: Moodle site administrators launching the tool, and people
granted the role. Registration URLs, platforms, keys, and who holds the tool's own roles."""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, Length, Optional

from lti_tool.audit import service as audit
from lti_tool.cases.clocks import overdue_cases
from lti_tool.extensions import db
from lti_tool.formfields import RadioGroup
from lti_tool.lti.keys import KeyStoreError
from lti_tool.lti.keystore import key_store
from lti_tool.outbox import service as outbox
from lti_tool.outbox.models import FAILED, OutboxMessage
from lti_tool.people.models import Person
from lti_tool.platforms import service as platforms
from lti_tool.policy import service as policies
from lti_tool.roles import service as roles
from lti_tool.roles.access import require_tool_admin
from lti_tool.roles.models import (
    ALS,
    APPEAL_REVIEWER,
    POLICY_OWNER,
    QUALITY_LEAD,
    ROLE_LABELS,
    TOOL_ADMIN,
    RoleGrant,
)
from lti_tool.submissions import confirmation
from lti_tool.submissions.guard import once

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _page(new_url: str | None = None, **extra: object) -> str:
    store = key_store()
    return render_template("admin/index.html", platforms=platforms.list_platforms(),
                           keys=store.keys(), signing=store.current().kid,
                           person=g.launch.person,
                           failed=outbox.failed_messages(g.launch.platform_id),
                           retrying=outbox.retrying_messages(g.launch.platform_id),
                           queue=outbox.queue_figures(),
                           overdue=overdue_cases(policies.current_or_bundled(),
                                                 platform_id=g.launch.platform_id),
                           hint=outbox.hint, new_url=new_url, **extra)


@bp.get("/")
@require_tool_admin
def index() -> str:
    return _page()


@bp.post("/registration-url")
@require_tool_admin
def registration_url() -> str:
    url, invite = platforms.mint_invite(current_app.config["BASE_URL"],
                                        f"person:{g.launch.person_id}",
                                        current_app.config["REGISTRATION_URL_TTL"])
    return _page(new_url=url, invite=invite)


@bp.post("/outbox/<int:message_id>/retry")
@require_tool_admin
def retry(message_id: int) -> ResponseReturnValue:
    message = _failed_message(message_id)
    outbox.retry_failed(message)
    audit.record(f"person:{g.launch.person_id}", "outbox.retried", "outbox_message",
                 message.id, {"kind": message.kind})
    flash(gettext("Queued again: it will be sent in a moment."), "success")
    return redirect(url_for("admin.index"), code=303)


def _failed_message(message_id: int) -> OutboxMessage:
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.status != FAILED or (
            message.platform_id not in (None, g.launch.platform_id)):
        abort(404)
    return message


@bp.post("/outbox/<int:message_id>/dismiss")
@require_tool_admin
@once
def dismiss(message_id: int) -> ResponseReturnValue:
    message = _failed_message(message_id)
    outbox.dismiss_failed(message)
    audit.record(f"person:{g.launch.person_id}", "outbox.dismissed", "outbox_message",
                 message.id, {"kind": message.kind})
    flash(gettext("Dismissed: it will not be sent, and no longer shows here."), "success")
    return redirect(url_for("admin.index"), code=303)


@bp.post("/keys/rotate")
@require_tool_admin
@once
def rotate_keys() -> ResponseReturnValue:
    """A new signing key: published in the JWKS at once, signing a few minutes later; the
    old one stays published for the overlap (see KeyStore.rotate)."""
    cfg = current_app.config
    try:
        key, removed = key_store().rotate(
            publish_ahead=timedelta(seconds=int(cfg["KEY_PUBLISH_AHEAD_SECONDS"])),
            overlap=timedelta(seconds=int(cfg["KEY_ROTATION_OVERLAP_SECONDS"])))
    except KeyStoreError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.index"), code=303)
    audit.record(f"person:{g.launch.person_id}", "key.rotated", "key", key.kid,
                 {"removed": removed, "signs_from": key.signs_from})
    flash(gettext("New key published. It signs from %(when)s UTC; the previous key stays "
                  "published while Moodle may still need it.",
                  when=key.signs_from.replace("T", " ")[:16]), "success")
    return redirect(url_for("admin.index"), code=303)


AUDIT_PAGE_SIZE = 50


@bp.app_template_global("action_label")
def action_label(code: str) -> str:
    """An audit action or field as words ("role.granted" → "Role granted")."""
    words = code.replace(".", " ").replace("_", " ").replace("ai ", "AI ").strip()
    return words[:1].upper() + words[1:]


@bp.get("/audit")
@require_tool_admin
def audit_log() -> str:
    return _audit_page()


@bp.post("/audit/verify")
@require_tool_admin
def verify_audit() -> str:
    """Run the hash-chain check over the whole log (reads only)."""
    result = audit.verify()
    return _audit_page(verified=result)


def _audit_page(verified: audit.VerifyResult | None = None) -> str:
    filters = audit.EventFilter.from_args(request.args)
    events, pages = audit.events(filters, page_size=AUDIT_PAGE_SIZE)
    return render_template("admin/audit.html", person=g.launch.person, events=events,
                           filters=filters, pages=pages, verified=verified,
                           actions=audit.known_actions(),
                           actor_names=audit.actor_names({e.actor for e in events}))


class GrantForm(FlaskForm):
    role = RadioGroup(lazy_gettext("Role"), options=[(ALS, ROLE_LABELS[ALS]),
                                       (APPEAL_REVIEWER, ROLE_LABELS[APPEAL_REVIEWER]),
                                       (QUALITY_LEAD, ROLE_LABELS[QUALITY_LEAD]),
                                       (TOOL_ADMIN, ROLE_LABELS[TOOL_ADMIN]),
                                       (POLICY_OWNER, ROLE_LABELS[POLICY_OWNER])],
                      message=lazy_gettext("Choose the role to give."))
    who = StringField(lazy_gettext("Moodle user ID or email address"), validators=[
        Length(max=320, message=lazy_gettext(
            "That is too long for a user ID or an email address."))])
    # Set instead of `who` when the person was picked from those the tool knows.
    person_id = IntegerField(validators=[Optional()])


class RevokeForm(FlaskForm):
    pass


class ConfirmForm(FlaskForm):
    person_id = IntegerField(validators=[DataRequired()])


def _roles_page(form: GrantForm | None = None) -> str:
    platform_id = g.launch.platform_id
    grants = roles.list_grants(platform_id)
    history = [r for r in roles.list_grants(platform_id, include_revoked=True)
               if not r.active]
    find = " ".join(request.args.get("find", "").split())[:100]
    actors = {r.granted_by for r in grants + history} | {
        r.revocation.revoked_by for r in history if r.revocation is not None}
    return render_template(
        "admin/roles.html", person=g.launch.person, form=form or GrantForm(formdata=None),
        find=find, found=roles.find_people(platform_id, find) if find else [],
        actor_names=audit.actor_names(actors),
        revoke_form=RevokeForm(formdata=None),
        grants=grants, matches=roles.email_matches(grants), history=history,
        undoable=[r for r in history if roles.undoable(r)],
        undo_minutes=int(roles.UNDO_WINDOW.total_seconds() // 60))


@bp.get("/roles")
@require_tool_admin
def roles_page() -> str:
    return _roles_page()


def _holder(form: GrantForm) -> dict[str, str]:
    """Who the form names: a person picked from the list, else what was typed."""
    if form.person_id.data:
        picked = db.session.get(Person, form.person_id.data)
        if picked is None or picked.platform_id != g.launch.platform_id:
            raise roles.RoleError(gettext("That person is not known on this Moodle site."))
        return {"sub": picked.sub}
    if not (form.who.data or "").strip():
        raise roles.RoleError(gettext("Enter the person's Moodle user ID or email address."))
    return roles.parse_holder(form.who.data or "")


@bp.post("/roles")
@require_tool_admin
@once
def grant_role() -> BaseResponse | tuple[str, int]:
    form = GrantForm()
    if form.validate_on_submit():
        try:
            row, created = roles.grant(g.launch.platform_id, form.role.data or "",
                                       actor=f"person:{g.launch.person_id}", **_holder(form))
        except roles.RoleError as exc:
            form.who.errors = [*form.who.errors, str(exc)]
        else:
            if created and row.email:
                flash(gettext("%(holder)s will be %(role)s once you confirm who it is: when "
                              "someone opens the tool from Moodle with this address, they are "
                              "listed below for you to confirm.",
                              holder=row.holder_name, role=row.role_phrase))
            elif created:
                flash(gettext("%(holder)s is now %(role)s.", holder=row.holder_name,
                              role=row.role_phrase) if row.person_id else gettext(
                    "%(holder)s is now %(role)s. It takes effect when they first open the tool "
                    "from Moodle.", holder=row.holder_name, role=row.role_phrase))
            else:
                flash(gettext("%(holder)s already was %(role)s.", holder=row.holder_name,
                              role=row.role_phrase))
            return redirect(url_for("admin.roles_page"), code=303)
    return _roles_page(form), 400


def _revoke_consequences(row: RoleGrant) -> list[str]:
    """What revoking ``row`` does, said before it is done."""
    lines = [gettext("%(holder)s will no longer be %(role)s on this Moodle site.",
                     holder=row.holder_name, role=row.role_phrase)]
    if row.role == ALS:
        others = [p for p in roles.als_members(row.platform_id) if p.id != row.person_id]
        lines.append(gettext("They can no longer open the review queue or decide requests."))
        if not others:
            lines.append(gettext("No one else is in the ALS team: learners' requests will wait "
                                 "until you give someone the role."))
    else:
        lines.append(gettext("They can no longer open Tool administration (unless they are a "
                             "Moodle site administrator)."))
    minutes = int(roles.UNDO_WINDOW.total_seconds() // 60)
    lines.append(gettext("You can undo this for %(minutes)s minutes from this page.",
                         minutes=minutes))
    return lines


@bp.post("/roles/<int:grant_id>/revoke")
@require_tool_admin
@once
def revoke_role(grant_id: int) -> ResponseReturnValue:
    if not RevokeForm().validate_on_submit():
        abort(400)
    row = roles.get_grant(grant_id, g.launch.platform_id)
    if row is None:
        abort(404)
    if not row.active:
        flash(gettext("That role was already revoked."), "info")
        return redirect(url_for("admin.roles_page"), code=303)
    if not confirmation.confirmed():
        return confirmation.ask(
            title=gettext("Stop %(holder)s being %(role)s?", holder=row.holder_name,
                          role=row.role_phrase),
            consequences=_revoke_consequences(row),
            confirm_label=gettext("Revoke the role from %(holder)s", holder=row.holder_name),
            cancel_url=url_for("admin.roles_page"), danger=True)
    try:
        roles.revoke_grant(row, actor=f"person:{g.launch.person_id}")
    except roles.RoleError as exc:
        flash(str(exc), "info")
    else:
        minutes = int(roles.UNDO_WINDOW.total_seconds() // 60)
        flash(gettext("%(holder)s is no longer %(role)s. You can undo this for %(minutes)s "
                      "minutes (Undo, below).", holder=row.holder_name, role=row.role_phrase,
                      minutes=minutes), "success")
    return redirect(url_for("admin.roles_page"), code=303)


@bp.post("/roles/<int:grant_id>/undo")
@require_tool_admin
@once
def undo_revoke(grant_id: int) -> ResponseReturnValue:
    """Give back a role revoked a moment ago (a new grant with the same scope)."""
    if not RevokeForm().validate_on_submit():
        abort(400)
    row = roles.get_grant(grant_id, g.launch.platform_id)
    if row is None or row.active:
        abort(404)
    try:
        again = roles.undo_revocation(row, actor=f"person:{g.launch.person_id}")
    except roles.RoleError as exc:
        flash(str(exc), "error")
    else:
        flash(gettext("Undone: %(holder)s is %(role)s again.", holder=again.holder_name,
                      role=again.role_phrase), "success")
    return redirect(url_for("admin.roles_page"), code=303)


@bp.post("/roles/<int:grant_id>/confirm")
@require_tool_admin
def confirm_role(grant_id: int) -> BaseResponse:
    """The admin confirms that the person who launched with a grant's email is the one
    meant: only then does the role take effect."""
    form = ConfirmForm()
    row = roles.get_grant(grant_id, g.launch.platform_id)
    if row is None:
        abort(404)
    if not form.validate_on_submit():
        abort(400)
    try:
        held = roles.confirm_grant(row, form.person_id.data or 0,
                                   actor=f"person:{g.launch.person_id}")
    except roles.RoleError as exc:
        flash(str(exc))
    else:
        flash(gettext("%(holder)s is now %(role)s.", holder=held.holder_name,
                      role=held.role_phrase))
    return redirect(url_for("admin.roles_page"), code=303)
