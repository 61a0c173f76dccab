"""Command-line administration: ``flask --app lti_tool keys|platforms|roles|audit ...``."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from lti_tool.audit import service as audit
from lti_tool.extensions import db
from lti_tool.lti.keystore import key_store
from lti_tool.people.models import Person
from lti_tool.platforms import service as platforms
from lti_tool.platforms.models import Platform
from lti_tool.roles import service as roles
from lti_tool.roles.models import ALS, APPEAL_REVIEWER, POLICY_OWNER, QUALITY_LEAD, TOOL_ADMIN

T = TypeVar("T")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


keys_cli = AppGroup("keys", help="The tool's signing keys.")


@keys_cli.command("generate")
def keys_generate() -> None:
    """Make the first signing key (does nothing if one exists)."""
    key, made = key_store().generate()
    if made:
        audit.record(_actor(), "key.generated", "key", key.kid, {})
        db.session.commit()
        click.echo(f"Generated signing key {key.kid}")
    else:
        click.echo(f"A signing key already exists: {key.kid}")


@keys_cli.command("rotate")
def keys_rotate() -> None:
    """Make a new current key; the previous one stays published while it retires."""
    key, removed = key_store().rotate()
    audit.record(_actor(), "key.rotated", "key", key.kid, {"removed": removed})
    db.session.commit()
    click.echo(f"New current key {key.kid}")
    for kid in removed:
        click.echo(f"Removed retired key {kid}")


@keys_cli.command("list")
def keys_list() -> None:
    """List the keys published in the JWKS."""
    found = key_store().keys()
    if not found:
        click.echo("No keys. Run 'flask --app lti_tool keys generate'.")
    for key in found:
        click.echo(f"{key.kid}  {key.status:<8}  created {key.created_at}")


platforms_cli = AppGroup("platforms", help="Registered platforms (Moodle sites).")


@platforms_cli.command("add")
@click.option("--issuer", required=True, help="The platform's issuer (Moodle's site URL).")
@click.option("--client-id", required=True, help="The client ID Moodle shows for the tool.")
@click.option("--deployment-id", required=True, help="Moodle's deployment ID.")
@click.option("--auth-login-url", required=True, help="Moodle's authentication request URL.")
@click.option("--auth-token-url", required=True, help="Moodle's access token URL.")
@click.option("--key-set-url", required=True, help="Moodle's public keyset URL.")
@click.option("--name", default=None, help="A display name.")
def platforms_add(issuer: str, client_id: str, deployment_id: str, auth_login_url: str,
                  auth_token_url: str, key_set_url: str, name: str | None) -> None:
    """Register a platform by hand (or update it; adds the deployment)."""
    from lti_tool.lti import http

    for url in (issuer, auth_login_url, auth_token_url, key_set_url):
        try:
            http.check_url(url, allow_insecure=current_app.config["ALLOW_INSECURE"])
        except http.UnsafeURL as exc:
            raise click.BadParameter(str(exc)) from exc
    platform = platforms.upsert_platform(
        issuer=issuer, client_id=client_id, auth_login_url=auth_login_url,
        auth_token_url=auth_token_url, key_set_url=key_set_url, deployment_id=deployment_id,
        name=name, actor=_actor(),
    )
    db.session.commit()
    click.echo(f"Platform {platform.id}: {platform.issuer} client {platform.client_id}, "
               f"deployment {deployment_id}")


@platforms_cli.command("list")
def platforms_list() -> None:
    """List registrations with their deployments."""
    found = platforms.list_platforms()
    if not found:
        click.echo("No platforms registered.")
    for p in found:
        state = "active" if p.active else "inactive"
        deployments = ", ".join(
            d.deployment_id + ("" if d.active else " (inactive)") for d in p.deployments
        ) or "none"
        product = f"{p.product_family_code or '?'} {p.product_version or ''}".strip()
        click.echo(f"{p.id}  {p.issuer}  client={p.client_id}  {state}  via={p.registered_via}"
                   f"  deployments: {deployments}  product: {product}  name: {p.display_name}")


@platforms_cli.command("deactivate")
@click.argument("platform")
@click.option("--deployment-id", default=None, help="Switch off only this deployment.")
def platforms_deactivate(platform: str, deployment_id: str | None) -> None:
    """Switch off a registration (by id, client id or issuer), or one of its deployments."""
    found = platforms.find_platforms(platform)
    if not found:
        raise click.ClickException(f"No platform matches {platform!r}.")
    if len(found) > 1:
        raise click.ClickException(f"{platform!r} matches {len(found)} registrations; "
                                   "use the numeric id from 'platforms list'.")
    target = found[0]
    if deployment_id:
        matches = [d for d in target.deployments if d.deployment_id == deployment_id]
        if not matches:
            raise click.ClickException(f"Platform {target.id} has no deployment "
                                       f"{deployment_id!r}.")
        platforms.deactivate_deployment(matches[0], _actor())
        click.echo(f"Deployment {deployment_id} of platform {target.id} switched off.")
    else:
        platforms.deactivate_platform(target, _actor())
        click.echo(f"Platform {target.id} ({target.issuer}) switched off.")
    db.session.commit()


@platforms_cli.command("registration-url")
@click.option("--hours", default=None, type=click.IntRange(1, 24 * 14),
              help="How long the URL stays valid (default 24).")
def platforms_registration_url(hours: int | None) -> None:
    """Print a single-use Dynamic Registration URL (last line of the output)."""
    ttl = hours * 3600 if hours else current_app.config["REGISTRATION_URL_TTL"]
    url, invite = platforms.mint_invite(current_app.config["BASE_URL"], _actor(), ttl)
    db.session.commit()
    click.echo("Paste this into Moodle: Site administration > Plugins > Activity modules > "
               "External tool > Manage tools > Tool URL, then click 'Add LTI Advantage'.")
    click.echo(f"It works once and expires at {invite.expires_at:%Y-%m-%d %H:%M} UTC.")
    click.echo(url)


policy_cli = AppGroup("policy", help="Versions of the Learner AI Usage Policy.")


@policy_cli.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--publish", "publish_now", is_flag=True, help="Publish it straight away.")
def policy_import(path: str, publish_now: bool) -> None:
    """Import a policy version from a JSON file (see config/policy/aiu-1.0.json)."""
    from lti_tool.policy import service as policies

    try:
        version, new = policies.import_file(path, _actor())
        if publish_now:
            policies.publish(version.version, _actor(), version.reference)
    except policies.PolicyError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"{'Imported' if new else 'Already imported'} {version.label}"
               + (" and published it." if publish_now else "."))


@policy_cli.command("publish")
@click.argument("version")
@click.option("--reference", default=None, help="The policy reference, if several exist.")
def policy_publish(version: str, reference: str | None) -> None:
    """Make VERSION the policy learners declare under; they are asked to declare again."""
    from lti_tool.policy import service as policies

    try:
        published = policies.publish(version, _actor(), reference)
    except policies.PolicyError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Published {published.label}. Learners who declared under an earlier "
               "version are asked to declare again.")


@policy_cli.command("use")
@click.argument("reference", required=False)
@click.option("--platform", "platform_ref", required=True,
              help="The platform: id, client id or issuer.")
def policy_use(reference: str | None, platform_ref: str) -> None:
    """Make REFERENCE (a published policy) the platform's policy: its placements follow it
    unless their settings name another. Without REFERENCE: the tool's default again."""
    from lti_tool.policy import service as policies

    platform = _one_platform(platform_ref)
    try:
        policies.use_for_platform(platform.id, reference, _actor())
    except policies.PolicyError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Platform {platform.id} follows "
               + (f"policy {reference}." if reference else "the tool's default policy."))


@policy_cli.command("list")
def policy_list() -> None:
    """List imported policy versions."""
    from lti_tool.policy import service as policies

    found = policies.versions()
    if not found:
        click.echo("No policy imported yet (version 1.0 is installed on first use).")
    for v in found:
        click.echo(f"{v.label:<12} {v.status:<10} imported {v.imported_at:%Y-%m-%d} by "
                   f"{v.imported_by}  sha256 {v.content_hash[:12]}")
roles_cli = AppGroup("roles", help="Roles the tool holds: ALS team members, quality leads "
                                    "and tool administrators, per platform.")


def _one_platform(ref: str) -> Platform:
    found = platforms.find_platforms(ref)
    if not found:
        raise click.ClickException(f"No platform matches {ref!r} ('platforms list' shows them).")
    if len(found) > 1:
        raise click.ClickException(f"{ref!r} matches {len(found)} registrations; use the "
                                   "numeric id from 'platforms list'.")
    return found[0]


def _who_options(fn: Callable[..., None]) -> Callable[..., None]:
    fn = click.option("--email", default=None, help="Their email address in Moodle.")(fn)
    fn = click.option("--user-id", "sub", default=None,
                      help="Their Moodle user id (the launch's 'sub').")(fn)
    return click.option("--platform", "platform_ref", required=True,
                        help="The platform: id, client id or issuer.")(fn)


def _grant(role: str, platform_ref: str, sub: str | None, email: str | None) -> None:
    platform = _one_platform(platform_ref)
    try:
        row, created = roles.grant(platform.id, role, actor=_actor(), sub=sub, email=email)
    except roles.RoleError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    if not created:
        click.echo(f"{row.holder_name} already is {row.role_phrase} on platform {platform.id}.")
    elif row.person_id is None and row.email:
        click.echo(f"Granted: {row.named_as} becomes {row.role_phrase} on platform "
                   f"{platform.id} once you confirm who launched with that address "
                   f"('roles list' shows them; then 'roles confirm {row.id} --user-id N').")
    elif row.person_id is None:
        click.echo(f"Granted: {row.named_as} becomes {row.role_phrase} on platform "
                   f"{platform.id} at their first launch.")
    else:
        click.echo(f"Granted: {row.holder_name} is {row.role_phrase} on platform "
                   f"{platform.id}.")


def _revoke(role: str, platform_ref: str, sub: str | None, email: str | None) -> None:
    platform = _one_platform(platform_ref)
    try:
        rows = roles.revoke(platform.id, role, actor=_actor(), sub=sub, email=email)
    except roles.RoleError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    for row in rows:
        click.echo(f"Revoked: {row.holder_name} is no longer {row.role_phrase} on platform "
                   f"{platform.id}.")


@roles_cli.command("grant-als")
@_who_options
def roles_grant_als(platform_ref: str, sub: str | None, email: str | None) -> None:
    """Make someone an ALS team member (by Moodle user id or email; they need not have
    launched yet)."""
    _grant(ALS, platform_ref, sub, email)


@roles_cli.command("revoke-als")
@_who_options
def roles_revoke_als(platform_ref: str, sub: str | None, email: str | None) -> None:
    """End someone's ALS membership (the grant stays in the history)."""
    _revoke(ALS, platform_ref, sub, email)


@roles_cli.command("grant-appeal-reviewer")
@_who_options
def roles_grant_appeal_reviewer(platform_ref: str, sub: str | None, email: str | None) -> None:
    """Make someone an appeal reviewer (they review appeals against case decisions they
    took no part in)."""
    _grant(APPEAL_REVIEWER, platform_ref, sub, email)


@roles_cli.command("revoke-appeal-reviewer")
@_who_options
def roles_revoke_appeal_reviewer(platform_ref: str, sub: str | None,
                                 email: str | None) -> None:
    """End someone's appeal reviewer role (the grant stays in the history)."""
    _revoke(APPEAL_REVIEWER, platform_ref, sub, email)


@roles_cli.command("grant-quality-lead")
@_who_options
def roles_grant_quality_lead(platform_ref: str, sub: str | None, email: str | None) -> None:
    """Make someone a quality lead: with the ALS team, they report cases to the awarding
    body (emailed when a case must be reported; they see every case)."""
    _grant(QUALITY_LEAD, platform_ref, sub, email)


@roles_cli.command("revoke-quality-lead")
@_who_options
def roles_revoke_quality_lead(platform_ref: str, sub: str | None, email: str | None) -> None:
    """End someone's quality lead role (the grant stays in the history)."""
    _revoke(QUALITY_LEAD, platform_ref, sub, email)


@roles_cli.command("grant-admin")
@_who_options
def roles_grant_admin(platform_ref: str, sub: str | None, email: str | None) -> None:
    """Make someone a tool administrator (Moodle site administrators always are)."""
    _grant(TOOL_ADMIN, platform_ref, sub, email)


@roles_cli.command("revoke-admin")
@_who_options
def roles_revoke_admin(platform_ref: str, sub: str | None, email: str | None) -> None:
    """End someone's granted tool administrator role."""
    _revoke(TOOL_ADMIN, platform_ref, sub, email)


@roles_cli.command("grant-policy-owner")
@_who_options
def roles_grant_policy_owner(platform_ref: str, sub: str | None, email: str | None) -> None:
    """Make someone a policy owner: they edit, preview and publish policy versions."""
    _grant(POLICY_OWNER, platform_ref, sub, email)


@roles_cli.command("revoke-policy-owner")
@_who_options
def roles_revoke_policy_owner(platform_ref: str, sub: str | None, email: str | None) -> None:
    """End someone's policy owner role."""
    _revoke(POLICY_OWNER, platform_ref, sub, email)


@roles_cli.command("confirm")
@click.argument("grant_id", type=int)
@click.option("--user-id", "sub", required=True,
              help="The Moodle user id of the person who launched with the grant's email.")
def roles_confirm(grant_id: int, sub: str) -> None:
    """Confirm who a waiting grant by email is for: it then takes effect for them."""
    from lti_tool.roles.models import RoleGrant

    row = db.session.get(RoleGrant, grant_id)
    if row is None:
        raise click.ClickException(f"No grant {grant_id} ('roles list' shows them).")
    person = db.session.scalar(sa.select(Person).where(Person.platform_id == row.platform_id,
                                                       Person.sub == sub))
    try:
        if person is None:
            raise roles.RoleError(f"No one with Moodle user id {sub} has launched the tool.")
        held = roles.confirm_grant(row, person.id, actor=_actor())
    except roles.RoleError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Confirmed: {held.holder_name} is {held.role_phrase} on platform "
               f"{held.platform_id}.")


@roles_cli.command("list")
@click.option("--platform", "platform_ref", default=None,
              help="Only this platform (id, client id or issuer).")
@click.option("--history", is_flag=True, help="Include revoked grants.")
def roles_list(platform_ref: str | None, history: bool) -> None:
    """List who holds the tool's roles."""
    platform_id = _one_platform(platform_ref).id if platform_ref else None
    rows = roles.list_grants(platform_id, include_revoked=history)
    matches = roles.email_matches(rows)
    if not rows:
        click.echo("No roles granted.")
    for row in rows:
        who = row.holder_name
        if row.person is not None and row.named_as and row.named_as != who:
            who += f" ({row.named_as})"
        line = (f"platform {row.platform_id}  {row.role_label:<18}  {who}  granted "
                f"{row.granted_at:%Y-%m-%d %H:%M} by {row.granted_by}")
        if row.person_id is None and row.email and row.active:
            people = matches.get(row.id, [])
            line += (f"  [waiting for confirmation of grant {row.id}: launched as " + ", ".join(
                f"{p.display_name} (Moodle user {p.sub})" for p in people) + "]" if people
                else "  [waiting for someone to launch with this address]")
        elif row.person_id is None:
            line += "  [waiting for their first launch]"
        if row.revocation is not None:
            line += (f"  REVOKED {row.revocation.revoked_at:%Y-%m-%d %H:%M} by "
                     f"{row.revocation.revoked_by}")
        click.echo(line)


audit_cli = AppGroup("audit", help="The audit trail.")


@audit_cli.command("verify")
def audit_verify() -> None:
    """Check that no audit event was altered, removed or reordered."""
    from lti_tool.audit import anchors

    try:
        found = anchors.read_anchors()
    except anchors.AnchorError as exc:
        raise click.ClickException(str(exc)) from exc
    result = audit.verify(found)
    if result.ok:
        against = (f", matching {len(found)} anchor{'s' if len(found) != 1 else ''} "
                   f"(latest {found[-1].at[:10]})" if found else "")
        click.echo(f"Audit trail intact: {result.checked} events{against}.")
    else:
        raise click.ClickException(f"Audit trail broken after {result.checked} good events: "
                                   f"{result.problem}.")


retention_cli = AppGroup("retention", help="The retention schedule: disposal of what is due.")


@retention_cli.command("run")
@click.option("--dry-run", is_flag=True, help="Only say what would be disposed of.")
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="With --dry-run: what would be due on this day (YYYY-MM-DD).")
def retention_run(dry_run: bool, as_of: datetime | None) -> None:
    """Delete or anonymise every record whose retention period has run, except what a
    legal hold keeps."""
    from lti_tool.privacy import retention
    from lti_tool.privacy.schedule import ScheduleError

    if as_of is not None and not dry_run:
        raise click.BadParameter("--as-of only previews: add --dry-run.")
    now = as_of.replace(tzinfo=UTC, hour=23, minute=59) if as_of is not None else None
    try:
        report = retention.run(now, dry_run=dry_run, actor=_actor())
    except ScheduleError as exc:
        raise click.ClickException(str(exc)) from exc
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    verb = "Would dispose of" if dry_run else "Disposed of"
    counts = report.counts()
    click.echo(f"{verb}: " + (", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
                              or "nothing") + ".")
    for candidate in report.held:
        click.echo(f"Held: {candidate.what} ({candidate.record_type}), due "
                   f"{candidate.due_at:%Y-%m-%d}: {'; '.join(candidate.held_by)}")


@retention_cli.command("schedule")
def retention_schedule() -> None:
    """Print the retention schedule in force."""
    from lti_tool.privacy import schedule

    for line in schedule.describe():
        click.echo(f"{line.label}: {line.action} {line.period} after {line.starts}")


@click.command("demo")
@click.option("--platform-port", default=8081, show_default=True,
              help="Port of the demo Moodle (served on 127.0.0.1, another site than the tool).")
@with_appcontext
def demo_command(platform_port: int) -> None:
    """Run the tool with the built-in demo Moodle (local use only)."""
    from urllib.parse import urlsplit

    from werkzeug.serving import run_simple

    from lti_tool.demo.platform import MoodleStandIn
    from lti_tool.demo.server import serve_in_thread
    from lti_tool.demo.wiring import register_both_ways

    cfg = current_app.config
    base = urlsplit(cfg["BASE_URL"])
    if not cfg.get("DEMO") or not cfg["ALLOW_INSECURE"] or base.hostname not in (
        "localhost", "127.0.0.1"
    ):
        raise click.ClickException(
            "The demo platform is for local use only: it needs LTI_TOOL_DEMO=1, "
            "LTI_TOOL_ALLOW_INSECURE=1 and a BASE_URL on localhost. It never runs with "
            "production settings.")
    standin = MoodleStandIn(f"http://127.0.0.1:{platform_port}")
    tool = cfg["BASE_URL"]
    _, demo_platform = register_both_ways(standin, tool, actor=_actor(),
                                          client_id="aiu-demo-client", name="Demo Moodle")
    # The demo's als1 (Moodle user 6) is in the ALS team.
    roles.grant(demo_platform.id, ALS, actor=_actor(), sub=str(standin.user("als1").id))
    db.session.commit()
    serve_in_thread(standin.app, "127.0.0.1", platform_port)
    click.echo(f"Demo Moodle:  {standin.issuer}/   <- open this in your browser")
    click.echo(f"AIU tool:     {tool}/")
    click.echo("Press Ctrl+C to stop.")
    run_simple(base.hostname or "localhost", base.port or 5000,
               current_app._get_current_object(),  # type: ignore[attr-defined]
               threaded=True, use_reloader=False)


@click.command("worker")
@click.option("--once", is_flag=True, help="Deliver what is due now, then stop.")
@with_appcontext
def worker_command(once: bool) -> None:
    """Deliver the outbox (scores to Moodle, emails), queue due reminders, and keep going."""
    import time

    from lti_tool.cases.raising import send_due_reminders
    from lti_tool.lti.state import purge_expired
    from lti_tool.notifications.service import send_digests
    from lti_tool.outbox.service import deliver_due
    from lti_tool.submissions.guard import purge_older_than

    poll = float(current_app.config["WORKER_POLL_SECONDS"])
    while True:
        reminders = _worker_step("incident_reminders_failed", send_due_reminders) or 0
        if reminders:
            click.echo(f"{reminders} reminder{'s' if reminders != 1 else ''} queued")
        _worker_step("daily_privacy_failed", _daily_privacy)
        digests = _worker_step("digests_failed", send_digests) or 0
        if digests:
            click.echo(f"{digests} daily digest{'s' if digests != 1 else ''} queued")
        counts = _worker_step("outbox_delivery_failed", deliver_due) or {}
        _worker_step("purge_failed", lambda: (purge_expired(),
                                               purge_older_than(timedelta(days=2))))
        if counts:
            click.echo(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
        if once:
            return
        time.sleep(poll)


def _daily_privacy() -> None:
    """Once a day: dispose of what the retention schedule says is due, then anchor the
    audit chain's head outside the database (after the run, so the anchor covers it)."""
    from lti_tool.audit import anchors
    from lti_tool.privacy import retention

    if _first_worker_here() and not retention.ran_today():
        report = retention.run()
        if report.counts():
            click.echo("Retention: " + ", ".join(
                f"{n} {kind}" for kind, n in sorted(report.counts().items())) + " disposed of")
    db.session.commit()
    if _first_worker_here() and anchors.anchor_due():
        anchors.write_anchor()


# Any fixed number: the key of PostgreSQL's advisory lock for the daily steps.
DAILY_STEPS_LOCK = 41510001


def _first_worker_here() -> bool:
    """With several workers on PostgreSQL, only the one holding the daily-steps lock (until
    its transaction ends) checks and does a daily step, so two never run it at once; the
    others find it done next time. SQLite serves one worker."""
    if db.session.get_bind().dialect.name != "postgresql":
        return True
    return bool(db.session.scalar(sa.text("SELECT pg_try_advisory_xact_lock(:key)"),
                                  {"key": DAILY_STEPS_LOCK}))


def _worker_step(failure: str, step: Callable[[], T]) -> T | None:
    """Run one step of the worker's round and commit it; any error is logged and rolled
    back, and the worker goes on (the work stays queued for the next round)."""
    try:
        result = step()
        db.session.commit()
        return result
    except Exception:  # noqa: BLE001 - the long-running worker must never stop
        db.session.rollback()
        current_app.logger.exception(failure)
        return None


def register_commands(app: Flask) -> None:
    for group in (keys_cli, platforms_cli, policy_cli, roles_cli, audit_cli, retention_cli):
        app.cli.add_command(group)
    app.cli.add_command(demo_command)
    app.cli.add_command(worker_command)
