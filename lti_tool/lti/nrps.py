"""Names and Role Provisioning Services client: the course's members, every page followed."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from flask import current_app

from lti_tool.lti import http
from lti_tool.lti.services import access_token, forget_token
from lti_tool.platforms.models import Platform

SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
MEMBERSHIP_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
# Moodle writes rel=“next” with typographic quotes (sent as Latin-1 bytes) and &amp; in URLs.
_NEXT = re.compile(r"<([^>]+)>[^<,]*?rel=[^<,]*?next", re.IGNORECASE)
MAX_PAGES = 200


@dataclass(frozen=True)
class Member:
    user_id: str
    name: str
    given_name: str
    family_name: str
    email: str
    roles: tuple[str, ...]
    status: str

    @property
    def is_learner(self) -> bool:
        return any(r.rsplit("#", 1)[-1] == "Learner" for r in self.roles)


def next_link(link_header: str) -> str | None:
    match = _NEXT.search(link_header or "")
    return html.unescape(match.group(1)) if match else None


def members(platform: Platform, memberships_url: str, *, role: str | None = None,
            limit: int = 100) -> list[Member]:
    """Every member of the context, following ``Link: rel=next`` to the last page."""
    cfg = current_app.config
    url: str | None = memberships_url + ("&" if "?" in memberships_url else "?") + \
        f"limit={limit}" + (f"&role={role}" if role else "")
    found: list[Member] = []
    pages = 0
    retried = False
    while url and pages < MAX_PAGES:
        headers = {"Authorization": f"Bearer {access_token(platform, [SCOPE_NRPS])}",
                   "Accept": MEMBERSHIP_TYPE}
        reply = http.call("GET", url, allow_insecure=cfg["ALLOW_INSECURE"],
                          timeout=cfg["HTTP_TIMEOUT"], max_bytes=4 * cfg["HTTP_MAX_BYTES"],
                          headers=headers)
        if reply.status == 401 and not retried:
            forget_token(platform, [SCOPE_NRPS])
            retried = True
            continue
        if reply.status != 200:
            raise http.FetchFailed(f"the course's member list answered HTTP {reply.status}")
        body = reply.json()
        for raw in body.get("members", []) if isinstance(body, dict) else []:
            member = _member(raw)
            if member is not None:
                found.append(member)
        url = next_link(reply.headers.get("Link", ""))
        pages += 1
    return found


def _member(raw: Any) -> Member | None:
    if not isinstance(raw, dict) or not raw.get("user_id"):
        return None
    return Member(
        user_id=str(raw["user_id"]), name=str(raw.get("name") or ""),
        given_name=str(raw.get("given_name") or ""), family_name=str(raw.get("family_name") or ""),
        email=str(raw.get("email") or ""),
        roles=tuple(str(r) for r in raw.get("roles") or [] if isinstance(r, str)),
        status=str(raw.get("status") or "Active"),
    )
