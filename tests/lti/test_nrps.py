"""Names and Roles: every page is followed, Moodle's odd Link header included."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from lti_tool.extensions import db
from lti_tool.lti import nrps
from lti_tool.platforms.models import Platform


def test_next_link_parsing_copes_with_moodles_quotes() -> None:
    header = ('<https://m/x?limit=2&amp;from=0>; rel=\u00e2\u0080\u009cfirst\u00e2\u0080\u009d, '
              '<https://m/x?limit=2&amp;from=2>; rel=\u00e2\u0080\u009cnext\u00e2\u0080\u009d')
    assert nrps.next_link(header) == "https://m/x?limit=2&from=2"
    assert nrps.next_link('<https://m/y?page=3>; rel="next"') == "https://m/y?page=3"
    assert nrps.next_link('<https://m/y?page=1>; rel="first"') is None


def test_all_pages_are_followed(app: Flask, registered: Any, moodle: Any) -> None:
    url = moodle.memberships_url(2, int(registered.deployment_id))
    with app.app_context():
        platform = db.session.scalar(sa.select(Platform))
        assert platform is not None
        members = nrps.members(platform, url, limit=2)
    subs = sorted(m.user_id for m in members)
    assert {"3", "4", "5"} <= set(subs)
    assert len(subs) == len(set(subs))
    pages = [r for r in moodle.requests_log if "memberships" in r.path]
    assert len(pages) >= 2
