"""Evidence: an AI-checking system's result, texts and checked files (PDF, Word, text, PNG,
JPEG, by name and by content)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext, lazy_gettext
from sqlalchemy.orm import selectinload

from lti_tool.cases import storage
from lti_tool.cases.access import ADD_EVIDENCE, check_may_act
from lti_tool.cases.errors import IncidentError
from lti_tool.cases.events import append_event, lock_incident
from lti_tool.cases.models import (
    EV_EVIDENCE_ADDED,
    EVIDENCE_DETECTION,
    EVIDENCE_FILE,
    EVIDENCE_TEXT,
    EvidenceItem,
    Incident,
)
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.people.models import Person

ALLOWED_FILES = {
    "pdf": ("application/pdf", "PDF"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
             "Word (.docx)"),
    "txt": ("text/plain; charset=utf-8", lazy_gettext("text")),
    "png": ("image/png", "PNG"),
    "jpg": ("image/jpeg", "JPEG"),
    "jpeg": ("image/jpeg", "JPEG"),
}


@dataclass(frozen=True)
class EvidenceInput:
    """A further piece of evidence: a text, a file, or both (``filename`` with ``content``)."""

    label: str
    text: str = ""
    filename: str | None = None
    content: bytes | None = None
    # Evidence is disclosed to the learner unless withheld, with a reason staff see.
    withheld: bool = False
    withheld_reason: str = ""


@dataclass(frozen=True)
class CheckedFile:
    filename: str
    content_type: str
    sha256: str
    size: int


def check_file(filename: str, content: bytes, field: str = "evidence_file") -> CheckedFile:
    """Refuse files that are not PDF, Word (.docx), text, PNG or JPEG (by name *and* by
    content), empty or larger than ``INCIDENT_MAX_UPLOAD_BYTES``."""
    limit = int(current_app.config["INCIDENT_MAX_UPLOAD_BYTES"])
    name = " ".join(filename.replace("\\", "/").split("/")[-1].split())[:200]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in ALLOWED_FILES:
        raise IncidentError(field, gettext("The file must be a PDF, Word (.docx), text, PNG or "
                                           "JPEG file."))
    if not content:
        raise IncidentError(field, gettext("The file is empty."))
    if len(content) > limit:
        raise IncidentError(field, gettext("The file must be %(size)s or smaller.",
                                           size=size_label(limit)))
    if not _content_matches(ext, content):
        raise IncidentError(field, gettext("The file's content is not %(kind)s: check you chose "
                                           "the right file.", kind=ALLOWED_FILES[ext][1]))
    return CheckedFile(name, ALLOWED_FILES[ext][0], hashlib.sha256(content).hexdigest(),
                       len(content))


def size_label(n: int) -> str:
    """A byte count as people read it (5 MB, 300 KB)."""
    return f"{n / (1024 * 1024):g} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"


def _content_matches(ext: str, content: bytes) -> bool:
    if ext == "pdf":
        return content.startswith(b"%PDF-")
    if ext == "png":
        return content.startswith(b"\x89PNG\r\n\x1a\n")
    if ext in ("jpg", "jpeg"):
        return content.startswith(b"\xff\xd8\xff")
    if ext == "docx":
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                return "word/document.xml" in archive.namelist()
        except (zipfile.BadZipFile, ValueError):
            return False
    if ext == "txt":
        if b"\x00" in content:
            return False
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    return False


def check_evidence(items: Sequence[EvidenceInput],
                   field_prefix: str = "evidence") -> list[CheckedFile | None]:
    checked: list[CheckedFile | None] = []
    for item in items:
        has_file = bool(item.filename or item.content)
        if not has_file and not item.label.strip() and not item.text.strip():
            raise IncidentError(f"{field_prefix}_text", gettext("Describe the evidence or attach a "
                                                                "file."))
        if len(item.text) > 20000:
            raise IncidentError(f"{field_prefix}_text", gettext("Evidence text must be 20,000 "
                                                                "characters or fewer."))
        check_withholding(item.withheld, item.withheld_reason, f"{field_prefix}_withheld")
        checked.append(check_file(item.filename or "", item.content or b"",
                                  f"{field_prefix}_file") if has_file else None)
    return checked


def check_withholding(withheld: bool, reason: str, field: str) -> None:
    """Withholding a piece of evidence from the learner needs a reason."""
    if withheld and not reason.strip():
        raise IncidentError(f"{field}_reason", gettext("Give the reason for not showing this "
                                                       "evidence to the learner (staff will see "
                                                       "it)."))


def store_evidence(incident: Incident, item: EvidenceInput, checked: CheckedFile | None,
                   actor: Person, at: datetime) -> EvidenceItem:
    evidence = EvidenceItem(
        incident_id=incident.id, kind=EVIDENCE_FILE if checked else EVIDENCE_TEXT,
        label=" ".join(item.label.split())[:200] or (checked.filename if checked else
                                                     "Further evidence"),
        text=item.text.strip(), added_by_id=actor.id, added_at=at,
        filename=checked.filename if checked else None,
        content_type=checked.content_type if checked else None,
        size=checked.size if checked else None, sha256=checked.sha256 if checked else None,
        disclosed=not item.withheld,
        withheld_reason=item.withheld_reason.strip() if item.withheld else "")
    db.session.add(evidence)
    db.session.flush()
    if checked is not None:
        assert item.content is not None
        storage.store(evidence.id, checked.sha256, item.content)
    append_event(incident, EV_EVIDENCE_ADDED, actor, {
        "evidence_id": evidence.id, "kind": evidence.kind, "label": evidence.label,
        "text": evidence.text, "filename": evidence.filename, "sha256": evidence.sha256,
        "size": evidence.size, "disclosed": evidence.disclosed,
        "withheld_reason": evidence.withheld_reason or None}, at)
    return evidence


def add_evidence(incident: Incident, actor: Person, item: EvidenceInput,
                 at: datetime | None = None) -> EvidenceItem:
    """Add a further piece of evidence (a text and/or a checked file)."""
    check_may_act(actor, incident, ADD_EVIDENCE)
    (checked,) = check_evidence([item])
    lock_incident(incident)
    return store_evidence(incident, item, checked, actor, at or utcnow())


def evidence_file(evidence: EvidenceItem) -> bytes | None:
    return storage.read(evidence.id)


def evidence_of(incident: Incident, *, disclosed_only: bool = False) -> list[EvidenceItem]:
    """The case's evidence in the order it was added (with ``disclosed_only``, what the
    learner is shown)."""
    stmt = (sa.select(EvidenceItem).where(EvidenceItem.incident_id == incident.id)
            .options(selectinload(EvidenceItem.added_by)).order_by(EvidenceItem.id))
    if disclosed_only:
        stmt = stmt.where(EvidenceItem.disclosed.is_(True))
    return list(db.session.scalars(stmt))


def learner_summary(item: EvidenceItem) -> str:
    """How a disclosed item is described to the learner: a detector report as its score
    and a summary (never a verdict), a file by its name."""
    if item.kind == EVIDENCE_DETECTION:
        return gettext("%(checker)s reported: %(result)s. This is one piece of evidence that "
                       "needs human judgement; it is not a verdict.",
                       checker=item.label.split(" result")[0], result=item.text)
    if item.kind == EVIDENCE_FILE:
        return gettext("%(label)s: the file %(filename)s", label=item.label,
                       filename=item.filename) + (f". {item.text}" if item.text else "")
    return f"{item.label}: {item.text}" if item.text else item.label
