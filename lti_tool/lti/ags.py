"""Assignment and Grade Services client: scores and line items, as Moodle 4.5 expects them."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import current_app

from lti_tool.lti import http
from lti_tool.lti.services import access_token, forget_token
from lti_tool.platforms.models import Platform

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
LINEITEMS_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"


def sub_url(url: str, suffix: str) -> str:
    """``url`` with ``suffix`` added to its path, keeping the query (Moodle's ``?type_id=``)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + suffix,
                       parts.query, ""))


def _call(platform: Platform, method: str, url: str, scopes: list[str], *,
          content_type: str | None = None, accept: str | None = None,
          body: Any = None) -> http.Reply:
    """One authorised service call; a 401 drops the cached token and retries once."""
    cfg = current_app.config
    for attempt in (1, 2):
        headers = {"Authorization": f"Bearer {access_token(platform, scopes)}"}
        if content_type:
            headers["Content-Type"] = content_type
        if accept:
            headers["Accept"] = accept
        reply = http.call(method, url, allow_insecure=cfg["ALLOW_INSECURE"],
                          timeout=cfg["HTTP_TIMEOUT"], max_bytes=cfg["HTTP_MAX_BYTES"],
                          headers=headers,
                          data=None if body is None else _json_bytes(body))
        if reply.status == 401 and attempt == 1:
            forget_token(platform, scopes)
            continue
        return reply
    return reply


def _json_bytes(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def post_score(platform: Platform, lineitem_url: str, score: dict[str, Any]) -> http.Reply:
    """POST a score to ``<lineitem>/scores`` with exactly the score media type."""
    return _call(platform, "POST", sub_url(lineitem_url, "/scores"), [SCOPE_SCORE],
                 content_type=SCORE_TYPE, body=score)


def list_line_items(platform: Platform, lineitems_url: str, **filters: str) -> list[dict[str, Any]]:
    """Line items of the context, filtered (``resource_link_id``, ``resource_id``, ``tag``)."""
    url = lineitems_url
    if filters:
        url += ("&" if "?" in url else "?") + urlencode(filters)
    reply = _call(platform, "GET", url, [SCOPE_LINEITEM], accept=LINEITEMS_TYPE)
    if reply.status != 200:
        raise http.FetchFailed(f"listing line items answered HTTP {reply.status}")
    items = reply.json()
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []

