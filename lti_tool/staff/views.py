"""Pages for markers and other course staff: the course dashboard, a placement's settings, the
review redirect to the learner panel, and deep linking. The learner panel and the incident
pages are in :mod:`lti_tool.staff.incidents`."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
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
from flask_babel import gettext, ngettext
from flask_wtf import FlaskForm

from lti_tool.cases.access import learner_in_course
from lti_tool.cases.clocks import overdue_cases
from lti_tool.cases.dashboard import (
    DECLARATION_FILTERS,
    INCIDENT_FILTERS,
    NOT_DECLARED,
    SORTS,
    DashboardQuery,
    DashboardRow,
    course_dashboard,
)
from lti_tool.declarations import authentication, awareness, reminders, statements
from lti_tool.declarations import service as declarations
from lti_tool.declarations.forms import SettingsForm
from lti_tool.declarations.models import Declaration, PlacementSettings
from lti_tool.declarations.overview import placement_overview
from lti_tool.extensions import db
from lti_tool.lti import deep_linking, http, sesskey
from lti_tool.lti.exceptions import AccessDenied, ServiceError
from lti_tool.lti.keystore import key_store
from lti_tool.outbox.models import FAILED, OutboxMessage
from lti_tool.people import service as people
from lti_tool.people.access import require
from lti_tool.people.models import Course, CourseMember, Person
from lti_tool.people.roles import STAFF
from lti_tool.platforms.models import Platform
from lti_tool.policy import service as policies
from lti_tool.reports import attachment, safe_cell
from lti_tool.submissions.guard import once

bp = Blueprint("staff", __name__, url_prefix="/staff")

# A learner's declaration status, as the dashboard's tags and the CSV export say it.
STATUS_LABELS = {"current": "Declared", "outdated": "Needs to declare again",
                 "none": "Not declared"}


@bp.app_template_global("declaration_record")
def declaration_record(declaration: Declaration) -> dict[str, object]:
    """What staff see of a declaration beyond its answers: the statements the learner
    confirmed word for word, the authorisations written into them, the comprehension check
    and the authentication at submission."""
    return {"confirmed": statements.confirmed_texts(declaration.statements),
            "authorised": statements.cited_authorisations(declaration),
            "comprehension": json.loads(declaration.comprehension)
            if declaration.comprehension else None,
            "authentication": authentication.authentication_of(declaration)}


@bp.app_template_global("use_labels")
def use_labels(declaration: Declaration) -> list[str]:
    """The declaration's permitted uses in the policy's own words."""
    return statements.use_labels(declaration)


@bp.app_template_global("made_aware")
def made_aware(person_id: int, placement_id: int) -> list[str]:
    """When the learner was first shown the rules for the activity, per policy version."""
    return [awareness.describe(e) for e in awareness.events(person_id, placement_id)]


def _course() -> Course:
    course = db.session.get(Course, g.placement.course_id)
    assert course is not None
    return course


def _failed_syncs() -> list[OutboxMessage]:
    return list(db.session.scalars(
        sa.select(OutboxMessage).where(
            OutboxMessage.status == FAILED,
            OutboxMessage.ordering_key.like(f"score:placement:{g.placement.id}:%"))
        .order_by(OutboxMessage.id.desc()).limit(50)))


@bp.get("/placements/<int:placement_id>")
@require(STAFF)
def placement(placement_id: int) -> ResponseReturnValue:
    settings = declarations.effective_settings(g.placement)
    if not settings.configured:
        return redirect(url_for("staff.settings", placement_id=placement_id), code=303)
    policy = declarations.placement_policy(g.placement, settings)
    course = _course()
    roster_error = None
    if course.roster_fetched_at is None and g.placement.memberships_url:
        roster_error = _refresh_roster(course)
    query = DashboardQuery.from_args(request.args)
    page = course_dashboard(course, g.placement, policy, query)
    overdue = {o.incident.learner_id for o in overdue_cases(policy, course_ids=[course.id],
                                                             related=False)}
    return render_template("staff/placement.html", placement=g.placement, course=course,
                           person=g.launch.person, policy=policy, settings=settings,
                           page=page, rows=page.rows, total=page.total, overdue=overdue,
                           declared=page.declared, query=query, sorts=SORTS,
                           declaration_filters=DECLARATION_FILTERS,
                           incident_filters=INCIDENT_FILTERS, failed=_failed_syncs(),
                           roster_error=roster_error,
                           to_remind=_to_remind(page.matching))


def _to_remind(rows: list[DashboardRow]) -> list[int]:
    """Of the learners the search and filters keep, those not declared under the current
    policy (the bulk reminder's recipients)."""
    return [r.person_id for r in rows
            if r.person_id is not None and r.status.state in NOT_DECLARED]


@bp.post("/placements/<int:placement_id>/reminders")
@require(STAFF)
@once
def send_reminders(placement_id: int) -> ResponseReturnValue:
    """Email a reminder to the learners the dashboard shows (its search and filters, every
    page) who have not declared; at most one a day per learner."""
    if not ReminderForm().validate_on_submit():
        abort(400)
    settings = declarations.effective_settings(g.placement)
    policy = declarations.placement_policy(g.placement, settings)
    query = DashboardQuery.from_args(request.form)
    page = course_dashboard(_course(), g.placement, policy, query)
    ids = set(_to_remind(page.matching))
    learners = list(db.session.scalars(sa.select(Person).where(Person.id.in_(ids))
                                       .order_by(Person.id))) if ids else []
    result = reminders.remind(g.placement, g.launch.person, learners, settings.title)
    parts = [ngettext("Reminder emailed to %(num)d learner.",
                      "Reminder emailed to %(num)d learners.", result.sent)]
    if result.already:
        parts.append(gettext("%(num)s had already been reminded today.", num=result.already))
    if result.no_email:
        parts.append(gettext("Moodle shares no usable email address for %(num)s: they see the "
                             "activity's request when they open it.", num=result.no_email))
    flash(" ".join(parts), "success")
    back = url_for("staff.placement", placement_id=placement_id)
    return redirect(f"{back}?{urlencode(query.args())}", code=303)


class ReminderForm(FlaskForm):
    pass


def _refresh_roster(course: Course) -> str | None:
    """Refresh the roster from Names and Roles; a failure leaves the cached one in place."""
    try:
        people.refresh_roster(course, g.placement.memberships_url)
    except (http.FetchFailed, http.UnsafeURL, ServiceError) as exc:
        current_app.logger.warning("roster_refresh_failed course=%s error=%s", course.id, exc)
        return gettext("Moodle's list of course members could not be read just now, so the "
                       "list below may be out of date.")
    return None


@bp.post("/placements/<int:placement_id>/roster")
@require(STAFF)
def refresh_roster(placement_id: int) -> ResponseReturnValue:
    problem = _refresh_roster(_course())
    flash(problem or gettext("The list of learners was refreshed from Moodle."),
          "error" if problem else "success")
    return redirect(url_for("staff.placement", placement_id=placement_id), code=303)


@bp.get("/placements/<int:placement_id>/declarations.csv")
@require(STAFF)
def export_csv(placement_id: int) -> Response:
    policy = declarations.placement_policy(g.placement)
    rows = placement_overview(_course(), g.placement, policy)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Moodle user id", "Name", "Email", "Status", "Declared at (UTC)",
                     "Policy", "Uses AI", "Permitted uses", "AI tools", "Signature",
                     "Version", "Earlier versions", "ALS authorisations written in",
                     "Authenticated at (UTC)"])
    for row in rows:
        latest = row.status.latest
        writer.writerow([
            safe_cell(row.sub), safe_cell(row.name), safe_cell(row.email),
            STATUS_LABELS.get(row.status.state, "Not declared"),
            latest.created_at.strftime("%Y-%m-%d %H:%M:%S") if latest else "",
            latest.policy_version.label if latest else "",
            ("Yes" if latest.uses_ai else "No") if latest else "",
            safe_cell("; ".join(statements.use_labels(latest))) if latest else "",
            safe_cell("; ".join(json.loads(latest.ai_tools))) if latest else "",
            safe_cell(latest.signature) if latest else "",
            len(row.history) if latest else 0, max(len(row.history) - 1, 0),
            safe_cell("; ".join(statements.cited_authorisations(latest))) if latest else "",
            row.authentication.created_at.strftime("%Y-%m-%d %H:%M:%S")
            if row.authentication else "",
        ])
    filename = f"declarations-placement-{placement_id}.csv"
    return attachment(out.getvalue(), "text/csv", filename)


@bp.get("/placements/<int:placement_id>/review/<sub>")
@require(STAFF)
def review(placement_id: int, sub: str) -> ResponseReturnValue:
    """Moodle's "Grade analysis" lands here with the learner's Moodle user id. Answered only
    for people of this placement's course (or the one this review launch named): anyone
    else is a 404, so the page reveals nothing about users of other courses."""
    learner = db.session.scalar(sa.select(Person).where(
        Person.platform_id == g.launch.platform_id, Person.sub == sub))
    course = _course()
    if learner is not None and (g.launch.for_user == sub
                                or learner_in_course(learner, course)):
        return redirect(url_for("staff.learner", placement_id=placement_id,
                                person_id=learner.id), code=303)
    if learner is None and (g.launch.for_user == sub or db.session.scalar(
            sa.select(CourseMember.id).where(CourseMember.course_id == course.id,
                                             CourseMember.sub == sub))):
        return render_template("staff/review.html", placement=g.placement, learner=None,
                               sub=sub, person=g.launch.person)
    abort(404)


@bp.route("/placements/<int:placement_id>/settings", methods=["GET", "POST"])
@require(STAFF)
@once
def settings(placement_id: int) -> ResponseReturnValue:
    current = declarations.effective_settings(g.placement)
    form = SettingsForm()
    policy, changed = _settings_policy(form, current.policy_reference)
    if not form.is_submitted():
        form.title.data = current.title
        form.assignment_name.data = current.assignment_name
        form.qualification.data = current.qualification
        if current.permitted_uses is not None:
            form.permitted_uses.data = current.permitted_uses
        form.guidance.data = current.guidance
        form.comprehension_check.data = current.comprehension_check
    if not changed and form.validate_on_submit():
        try:
            created = _create_settings(form, policy, replaces=current.settings_id)
        except declarations.DeclarationError as exc:
            getattr(form, exc.field).errors = [exc.message]
        else:
            declarations.bind(g.placement, created, f"person:{g.launch.person_id}")
            flash(gettext("Settings saved."), "success")
            return redirect(url_for("staff.placement", placement_id=placement_id), code=303)
    status = 400 if form.is_submitted() and not changed else 200
    return render_template("staff/settings.html", form=form, placement=g.placement,
                           person=g.launch.person, configured=current.configured,
                           policy=policy, policy_changed=changed), status


def _settings_policy(form: SettingsForm,
                     saved_reference: str | None) -> tuple[policies.Policy, bool]:
    """The policy whose permitted uses and awarding bodies the settings form offers: the
    one chosen on the form (or saved before), else the platform's (preselected). True when
    the teacher has just chosen another policy than the page showed: the form is shown
    again with that policy's choices instead of being saved."""
    platform_id = g.launch.platform_id
    chosen = (form.policy_reference.data if form.is_submitted() else saved_reference) or None
    policy = policies.for_placement(chosen, platform_id)
    changed = form.is_submitted() and (form.shown_policy.data or policy.reference) \
        != policy.reference
    form.set_policy(policy, policies.published_policies(),
                    policies.for_placement(None, platform_id))
    if form.offers_policies:
        form.policy_reference.data = policy.reference
    if changed:
        form.permitted_uses.data = [u.key for u in policy.permitted_uses]
        form.qualification.data = None
    return policy, changed


def _create_settings(form: SettingsForm, policy: policies.Policy,
                     replaces: int | None = None) -> PlacementSettings:
    launch = g.launch
    if launch.course_id is None:
        raise AccessDenied("no_course", "Open this from a course in Moodle.")
    return declarations.create_settings(
        platform_id=launch.platform_id, course_id=launch.course_id,
        created_by=launch.person_id, title=form.title.data or "",
        assignment_name=form.assignment_name.data or "",
        qualification=form.qualification.data or "",
        permitted_uses=list(form.permitted_uses.data or []),
        guidance=form.guidance.data or "", policy=policy, replaces_id=replaces,
        comprehension_check=bool(form.comprehension_check.data),
        # Saved settings keep the policy their permitted uses belong to, whatever the
        # platform's policy later becomes.
        policy_reference=policy.reference)


@bp.route("/deep-link", methods=["GET", "POST"])
@require(STAFF)
@once
def deep_link() -> ResponseReturnValue:
    launch = g.launch
    if launch.message_type != "LtiDeepLinkingRequest" or not launch.deep_linking:
        raise AccessDenied("not_deep_linking", "Open this page with 'Select content' in "
                           "Moodle's activity settings.")
    form = SettingsForm()
    policy, changed = _settings_policy(form, None)
    if not form.is_submitted():
        form.title.data = "AI use declaration"
    if not changed and form.validate_on_submit():
        try:
            created = _create_settings(form, policy)
        except declarations.DeclarationError as exc:
            getattr(form, exc.field).errors = [exc.message]
        else:
            # Redirect, so a repeat of this post (its one-time key) lands on the same return
            # page, and no page holding the return address is kept for repeats.
            return redirect(url_for("staff.deep_link_return", settings_id=created.id),
                            code=303)
    status = 400 if form.is_submitted() and not changed else 200
    return render_template("staff/deep_link.html", form=form, person=launch.person,
                           policy=policy, policy_changed=changed), status


@bp.get("/deep-link/<int:settings_id>/return")
@require(STAFF)
def deep_link_return(settings_id: int) -> str:
    """The page that posts the deep-linking response (the new activity) back to Moodle."""
    launch = g.launch
    created = db.session.get(PlacementSettings, settings_id)
    if (launch.message_type != "LtiDeepLinkingRequest" or not launch.deep_linking
            or created is None or created.platform_id != launch.platform_id
            or created.course_id != launch.course_id
            or created.created_by != launch.person_id):
        abort(404)
    return _deep_link_response(created)


def _deep_link_response(created: PlacementSettings) -> str:
    launch = g.launch
    platform = db.session.get(Platform, launch.platform_id)
    if platform is None:
        abort(404)
    base = current_app.config["BASE_URL"].rstrip("/")
    item = deep_linking.ResourceLinkItem(
        title=created.title, url=base + "/lti/launch",
        custom={declarations.SETTINGS_PARAM: created.token},
        line_item=deep_linking.LineItemSpec(
            score_maximum=1, label=f"AI use declaration — {created.title}",
            resource_id=f"aiu-declaration-{created.id}", tag="aiu-declaration",
            # Moodle keeps submissionReview only from a deep-linking response; it makes
            # "Grade analysis" in the gradebook open the learner's panel in the tool.
            submission_review={"reviewableStatus": ["Submitted", "Completed"],
                               "label": "AI use panel", "url": base + "/lti/launch"},
        ),
    )
    token = deep_linking.response_jwt(platform, launch.deployment_id, launch.deep_linking,
                                      [item], key_store())
    return render_template("lti/autopost.html",
                           action=sesskey.deep_link_return_url(
                               launch.deep_linking, current_app.config["SECRET_KEY"]),
                           fields={"JWT": token})
