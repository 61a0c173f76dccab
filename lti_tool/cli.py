"""Command-line administration: ``flask --app lti_tool keys|platforms|audit ...``."""

from __future__ import annotations

import getpass

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from lti_tool.audit import service as audit
from lti_tool.extensions import db
from lti_tool.lti.keystore import key_store
from lti_tool.platforms import service as platforms


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


audit_cli = AppGroup("audit", help="The audit trail.")


@audit_cli.command("verify")
def audit_verify() -> None:
    """Check that no audit event was altered, removed or reordered."""
    result = audit.verify()
    if result.ok:
        click.echo(f"Audit trail intact: {result.checked} events.")
    else:
        raise click.ClickException(f"Audit trail broken after {result.checked} good events: "
                                   f"{result.problem}.")


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
    registration = standin.register_tool(
        initiate_login_uri=tool + "/lti/login", redirect_uris=[tool + "/lti/launch"],
        jwks_uri=tool + "/lti/jwks", target_link_uri=tool + "/lti/launch",
        deep_linking_url=tool + "/lti/launch", client_id="aiu-demo-client",
    )
    platforms.upsert_platform(
        issuer=standin.issuer, client_id=registration.client_id,
        auth_login_url=standin.issuer + "/mod/lti/auth.php",
        auth_token_url=standin.issuer + "/mod/lti/token.php",
        key_set_url=standin.issuer + "/mod/lti/certs.php",
        deployment_id=registration.deployment_id, name="Demo Moodle", actor=_actor(),
    )
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

    from lti_tool.incidents.service import send_due_reminders
    from lti_tool.lti.state import purge_expired_nonces
    from lti_tool.outbox.service import deliver_due

    poll = float(current_app.config["WORKER_POLL_SECONDS"])
    while True:
        try:
            reminders = send_due_reminders()
            db.session.commit()
        except Exception:  # noqa: BLE001 - the outbox must keep going; retried next round
            db.session.rollback()
            current_app.logger.exception("incident_reminders_failed")
            reminders = 0
        if reminders:
            click.echo(f"{reminders} reminder{'s' if reminders != 1 else ''} queued")
        counts = deliver_due()
        purge_expired_nonces()
        db.session.commit()
        if counts:
            click.echo(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
        if once:
            return
        time.sleep(poll)


def register_commands(app: Flask) -> None:
    for group in (keys_cli, platforms_cli, policy_cli, audit_cli):
        app.cli.add_command(group)
    app.cli.add_command(demo_command)
    app.cli.add_command(worker_command)
