"""Anchors of the audit chain outside the database.

Anyone who can write the database could rewrite every event and rehash the chain so that it
fits together again. Once a day the worker appends the chain's head (event count, hash,
time) to a file outside the instance folder, opened append-only (``AUDIT_ANCHOR_FILE``), and
emails the same line to ``AUDIT_ANCHOR_EMAIL``; ``flask audit verify`` then checks the chain
against every anchor in the file. Give the file to an account the database's users are not
(or ship it elsewhere with the log shipper): the mailbox copy is the second witness.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from lti_tool.audit.models import AuditHead
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.instance_files import PRIVATE_FILE


class AnchorError(RuntimeError):
    """The anchor file is misconfigured or unreadable (the message says what to do)."""


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    at: str  # ISO 8601, UTC

    def line(self) -> str:
        return json.dumps({"seq": self.seq, "hash": self.hash, "at": self.at},
                          sort_keys=True) + "\n"


def anchor_file() -> str | None:
    """The configured anchor file (absolute), or None when anchoring is off. Refused inside
    the instance folder: whoever can replace the database could replace it there too."""
    path = str(current_app.config.get("AUDIT_ANCHOR_FILE") or "")
    if not path:
        return None
    path = os.path.realpath(os.path.abspath(path))
    instance = os.path.realpath(current_app.instance_path)
    if path == instance or path.startswith(instance + os.sep):
        raise AnchorError("LTI_TOOL_AUDIT_ANCHOR_FILE must be outside the instance folder "
                          f"({instance}), where the database lives.")
    return path


def read_anchors(path: str | None = None) -> list[Anchor]:
    """Every anchor in the file (oldest first); [] when there is none yet."""
    path = path or anchor_file()
    if path is None or not os.path.exists(path):
        return []
    anchors = []
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
                anchors.append(Anchor(int(data["seq"]), str(data["hash"]), str(data["at"])))
            except (ValueError, KeyError, TypeError) as exc:
                raise AnchorError(f"Line {number} of the audit anchor file is not an "
                                  "anchor: the file was damaged.") from exc
    return anchors


def current_head(now: datetime | None = None) -> Anchor:
    head = db.session.get(AuditHead, 1)
    moment = (now or utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ")
    if head is None:
        from lti_tool.audit.models import GENESIS_HASH

        return Anchor(0, GENESIS_HASH, moment)
    return Anchor(head.seq, head.last_hash, moment)


def anchor_due(now: datetime | None = None) -> bool:
    """True when anchoring is on and today (UTC) has no anchor yet."""
    path = anchor_file()
    if path is None:
        return False
    anchors = read_anchors(path)
    today = (now or utcnow()).strftime("%Y-%m-%d")
    return not anchors or not anchors[-1].at.startswith(today)


def write_anchor(now: datetime | None = None) -> Anchor | None:
    """Append today's chain head to the anchor file (created 0600, only ever appended to)
    and queue the email copy; None when anchoring is off. The caller commits."""
    path = anchor_file()
    if path is None:
        return None
    anchor = current_head(now)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)
    try:
        os.write(fd, anchor.line().encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    to = str(current_app.config.get("AUDIT_ANCHOR_EMAIL") or "")
    if to:
        from lti_tool.notifications.service import send_email

        send_email(to, f"AIU audit anchor {anchor.at[:10]}: {anchor.seq} events",
                   "audit_anchor", anchor=anchor, ordering_key="audit-anchor")
    return anchor
