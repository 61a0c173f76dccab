"""Registering the tool and the Moodle stand-in with each other, as an admin would by hand
on both sides (used by the demo command, the tests and the benchmarks)."""

from __future__ import annotations

from lti_tool.demo.model import ToolRegistration
from lti_tool.demo.platform import MoodleStandIn
from lti_tool.platforms import service as platforms
from lti_tool.platforms.models import Platform


def register_both_ways(standin: MoodleStandIn, tool_base_url: str, *, actor: str,
                       client_id: str | None = None,
                       name: str = "Moodle stand-in") -> tuple[ToolRegistration, Platform]:
    """Add the tool to the stand-in (active) and the stand-in to the tool's platforms.

    Needs an app context; flushes, the caller commits.
    """
    base = tool_base_url.rstrip("/")
    registration = standin.register_tool(
        initiate_login_uri=base + "/lti/login", redirect_uris=[base + "/lti/launch"],
        jwks_uri=base + "/lti/jwks", target_link_uri=base + "/lti/launch",
        deep_linking_url=base + "/lti/launch", client_id=client_id)
    platform = platforms.upsert_platform(
        issuer=standin.issuer, client_id=registration.client_id,
        auth_login_url=standin.url("/mod/lti/auth.php"),
        auth_token_url=standin.url("/mod/lti/token.php"),
        key_set_url=standin.url("/mod/lti/certs.php"),
        deployment_id=registration.deployment_id, name=name, actor=actor)
    return registration, platform
