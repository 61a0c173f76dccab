"""Where evidence files' bytes live: in the database (the default) or, with
``EVIDENCE_DIR``, in files in a directory outside the checkout, created 0700 with files 0600
(never world-readable). Disposal removes the file with its row."""

from __future__ import annotations

import os
from collections.abc import Sequence

import sqlalchemy as sa
from flask import current_app

from lti_tool.cases.models import EvidenceFile
from lti_tool.extensions import db
from lti_tool.instance_files import PRIVATE_FILE, private_dir


class EvidenceStoreError(RuntimeError):
    """``EVIDENCE_DIR`` is unusable (the message says why)."""


def evidence_dir() -> str | None:
    """The configured directory (absolute), or None to keep files in the database."""
    from lti_tool import PROJECT_DIR

    raw = str(current_app.config.get("EVIDENCE_DIR") or "")
    if not raw:
        return None
    path = os.path.realpath(os.path.abspath(raw))
    checkout = os.path.realpath(PROJECT_DIR)
    if path == checkout or path.startswith(checkout + os.sep):
        raise EvidenceStoreError("LTI_TOOL_EVIDENCE_DIR must be outside the tool's checkout "
                                 f"({checkout}): files there could be served or committed.")
    return path


def store(evidence_id: int, sha256: str, content: bytes) -> EvidenceFile:
    """Keep ``content`` for the evidence item (adds the row; flushes)."""
    directory = evidence_dir()
    if directory is None:
        row = EvidenceFile(evidence_id=evidence_id, content=content)
    else:
        private_dir(directory)
        os.chmod(directory, 0o700)
        name = f"{evidence_id}-{sha256[:16]}"
        fd = os.open(os.path.join(directory, name),
                     os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        try:
            os.write(fd, content)
            os.fsync(fd)
        finally:
            os.close(fd)
        row = EvidenceFile(evidence_id=evidence_id, content=None, location=name)
    db.session.add(row)
    db.session.flush()
    return row


def read(evidence_id: int) -> bytes | None:
    row = db.session.get(EvidenceFile, evidence_id)
    if row is None:
        return None
    if row.location is None:
        return row.content
    directory = evidence_dir()
    if directory is None:
        raise EvidenceStoreError(f"Evidence {evidence_id} is stored in a file, but "
                                 "LTI_TOOL_EVIDENCE_DIR is not set.")
    try:
        with open(os.path.join(directory, os.path.basename(row.location)), "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def remove(evidence_ids: Sequence[int]) -> int:
    """Delete the files of these evidence items (their rows are the caller's); returns how
    many files were removed."""
    if not evidence_ids:
        return 0
    locations = [loc for loc in db.session.scalars(
        sa.select(EvidenceFile.location).where(EvidenceFile.evidence_id.in_(list(evidence_ids)),
                                               EvidenceFile.location.is_not(None))) if loc]
    if not locations:
        return 0
    directory = evidence_dir()
    removed = 0
    for location in locations:
        if directory is None:
            current_app.logger.error("evidence_file_not_removed reason=no_evidence_dir")
            continue
        try:
            os.remove(os.path.join(directory, os.path.basename(location)))
            removed += 1
        except FileNotFoundError:
            pass
    return removed
