"""The subject-access export: everything the tool holds about one learner, as a ZIP with a
JSON file (valid against ``export.schema.json``, shipped beside this module), a readable
PDF of the same, and the evidence files of their cases.

Left out, and the export says so: staff deliberation notes on their cases (confidential),
other people's personal data (other learners' records, course lists), and security values
that only keep a session working (session ids, one-time link hashes).
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext, lazy_gettext

from lti_tool.audit import service as audit
from lti_tool.audit.models import AuditEvent
from lti_tool.cases import answers, appeals, checks, evidence, letters, records
from lti_tool.cases import models as im
from lti_tool.cases import storage as evidence_store
from lti_tool.dbtypes import utcnow
from lti_tool.declarations.models import (
    Authentication,
    AwarenessEvent,
    ComprehensionAttempt,
    Declaration,
)
from lti_tool.extensions import db
from lti_tool.notifications.addresses import recipient_hash
from lti_tool.outbox.handlers import EMAIL
from lti_tool.outbox.models import OutboxMessage
from lti_tool.people.models import Course, CourseMember, CourseRole, Person, Placement
from lti_tool.policy import service as policies
from lti_tool.requests import models as rm

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "export.schema.json")
FORMAT = "aiu-subject-access-export"
# Steps of a case that are staff deliberation, kept confidential (see LEFT_OUT).
CONFIDENTIAL_KINDS = frozenset({im.EV_NOTE_ADDED})

LEFT_OUT = {
    "notes": (lazy_gettext("Staff deliberation notes on your cases (%(n)s)"),
              lazy_gettext("Notes staff write to each other while they consider a case are "
                           "confidential, so that they can discuss it freely. What they "
                           "decided, and why, is in this export: the decision, its reasons and "
                           "every other step of the case.")),
    "withheld": (lazy_gettext("Evidence staff did not disclose to you (%(n)s)"),
                 lazy_gettext("Staff may keep an item of evidence back only with a recorded "
                              "reason (for example, it names another learner). Ask the tool's "
                              "administrator for a review if you think you should see it.")),
    "others": (lazy_gettext("Other people's personal data"),
               lazy_gettext("Other learners' declarations, requests and cases, and the course "
                            "lists Moodle sends, are about them, not you. Staff appear only by "
                            "name where they acted on your records.")),
    "security": (lazy_gettext("Security values"),
                 lazy_gettext("Session identifiers, sign-in state and the hashes of one-time "
                              "links only keep your use of the tool secure; they are deleted "
                              "within hours or when the link is used, and say nothing about "
                              "you.")),
}


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _json_list(text: str | None) -> list[Any]:
    try:
        data = json.loads(text or "[]")
    except ValueError:
        return []
    return data if isinstance(data, list) else []


def collect(person: Person, *, requested_by: str) -> dict[str, Any]:
    """Everything about ``person`` as a JSON-ready dictionary (``requested_by`` is
    ``"learner"`` or ``"administrator"``)."""
    placements = {p.id: p for p in db.session.scalars(sa.select(Placement))}
    courses = {c.id: c for c in db.session.scalars(
        sa.select(Course).where(Course.platform_id == person.platform_id))}

    def where(placement_id: int | None) -> dict[str, Any]:
        placement = placements.get(placement_id or 0)
        course = courses.get(placement.course_id) if placement else None
        return {"activity": placement.display_name if placement else None,
                "course": course.display_name if course else None}

    notes_left_out = withheld = 0
    cases = []
    policy = policies.current_or_bundled()  # as the learner's own case pages word letters
    for incident in db.session.scalars(sa.select(im.Incident).where(
            im.Incident.learner_id == person.id).order_by(im.Incident.id)):
        steps = []
        for entry in records.timeline(incident):
            if entry.kind in CONFIDENTIAL_KINDS:
                notes_left_out += 1
                continue
            steps.append({"step": entry.seq, "at": _iso(entry.at), "by": entry.actor,
                          "what": records.describe(entry)})
        answer = answers.answer_of(incident)
        shown = evidence.evidence_of(incident, disclosed_only=True)
        withheld += (db.session.scalar(sa.select(sa.func.count())
                                       .select_from(im.EvidenceItem)
                                       .where(im.EvidenceItem.incident_id == incident.id))
                     or 0) - len(shown)
        draft = db.session.get(im.AnswerDraft, incident.id)
        appeal = appeals.appeal_of(incident)
        sent = [letters.decision_letter(incident, policy),
                letters.appeal_letter(appeal, policy)
                if appeal is not None and appeal.reviewed_at is not None else None]
        cases.append({
            "id": incident.id, **where(incident.placement_id),
            "raised_at": _iso(incident.raised_at), "raised_by": incident.raised_by.display_name,
            "source": incident.source, "checker": incident.checker,
            "checker_result": incident.checker_result or None,
            "observations": incident.observations, "state": records.state_label(incident),
            "outcome": incident.outcome, "stage": incident.stage,
            "decided_at": _iso(incident.decided_at), "closed_at": _iso(incident.closed_at),
            "evidence": [{"id": e.id, "kind": e.kind, "label": e.label, "text": e.text or None,
                          "filename": e.filename, "size": e.size, "sha256": e.sha256,
                          "file_in_export": _evidence_name(e) if e.filename else None,
                          "added_at": _iso(e.added_at)}
                         for e in shown],
            "checks": [{"method": c.method, "planned_at": _iso(c.planned_at),
                        "planned_for": _iso(c.planned_for), "time": c.planned_time,
                        "place_or_link": c.location or None, "about": c.about or None,
                        "how_to_prepare": c.preparation or None,
                        "cancelled_at": _iso(c.cancelled_at),
                        "done_on": _iso(c.done_on), "conducted_by": c.conducted_by,
                        "outcome": c.outcome, "notes": c.notes or None,
                        "subject_knowledge": c.subject_knowledge or None,
                        "production": c.production or None}
                       for c in checks.checks_of(incident)],
            "answer": {"text": answer.text, "answered_at": _iso(answer.answered_at),
                       "via": answer.via} if answer else None,
            "draft_answer": draft.text if draft is not None and draft.text else None,
            "your_files": [{"id": f.id, "for": f.purpose, "filename": f.filename,
                            "size": f.size, "sha256": f.sha256,
                            "file_in_export": _learner_file_name(f),
                            "added_at": _iso(f.added_at)}
                           for f in db.session.scalars(sa.select(im.LearnerFile).where(
                               im.LearnerFile.incident_id == incident.id,
                               im.LearnerFile.person_id == person.id)
                               .order_by(im.LearnerFile.id))],
            "letters": [{"title": letter.title, "dated": _iso(letter.dated),
                         "sections": [{"heading": h, "text": t} for h, t in letter.sections]}
                        for letter in sent if letter is not None],
            "timeline": steps,
        })

    declarations = []
    for row in db.session.scalars(sa.select(Declaration).where(
            Declaration.person_id == person.id).order_by(Declaration.id)):
        auth = db.session.scalar(sa.select(Authentication).where(
            Authentication.declaration_id == row.id))
        declarations.append({
            "id": row.id, **where(row.placement_id), "made_at": _iso(row.created_at),
            "policy": row.policy_version.label, "uses_ai": row.uses_ai,
            "permitted_uses": _json_list(row.permitted_uses), "ai_tools": _json_list(row.ai_tools),
            "statements_confirmed": [s.get("text") for s in _json_list(row.statements)
                                     if isinstance(s, dict)],
            "signature": row.signature, "replaces": row.supersedes_id,
            "authentication": {"statement": auth.statement, "signature": auth.signature,
                               "made_at": _iso(auth.created_at)} if auth else None,
        })
    attempts = [{**where(a.placement_id), "at": _iso(a.created_at), "passed": a.passed,
                 "answers": json.loads(a.answers or "{}")}
                for a in db.session.scalars(sa.select(ComprehensionAttempt).where(
                    ComprehensionAttempt.person_id == person.id)
                    .order_by(ComprehensionAttempt.id))]
    aware = [{**where(e.placement_id), "kind": e.kind, "at": _iso(e.at),
              "policy": e.policy_version.label}
             for e in db.session.scalars(sa.select(AwarenessEvent).where(
                 AwarenessEvent.person_id == person.id).order_by(AwarenessEvent.id))]

    requests = []
    for req in db.session.scalars(sa.select(rm.AiToolRequest).where(
            rm.AiToolRequest.person_id == person.id).order_by(rm.AiToolRequest.id)):
        requests.append({
            "id": req.id, "course": req.course.display_name, "tool": req.tool_name,
            "purpose": req.purpose, "reason": str(rm.REASON_LABELS.get(req.reason, req.reason)),
            "reason_detail": req.reason_detail or None,
            "supporting_detail": req.supporting_detail or None,
            "scope": str(rm.SCOPE_LABELS.get(req.scope, req.scope)), "status": req.status_label,
            "made_at": _iso(req.created_at),
            "decisions": [{"outcome": d.outcome, "by": d.decided_by.display_name,
                           "at": _iso(d.created_at), "conditions": d.conditions or None,
                           "scope": d.scope, "expires_on": _iso(d.expires_on),
                           "reason": d.reason or None, "question": d.question or None}
                          for d in req.decisions],
            "answers": [{"text": r.text, "at": _iso(r.created_at)} for r in req.replies],
        })

    appealed = [{"case": a.incident_id,
                "grounds": [appeals.GROUNDS.get(g, g) for g in _json_list(a.grounds)],
                "text": a.text, "submitted_at": _iso(a.submitted_at),
                "state": appeals.STATE_LABELS.get(a.state, a.state),
                "reviewed_at": _iso(a.reviewed_at), "result": a.result_finding,
                "reasons": a.reasons or None}
               for a in db.session.scalars(sa.select(im.Appeal).where(
                   im.Appeal.learner_id == person.id).order_by(im.Appeal.id))]

    ledger = [{"case": s.incident_id, "ordinal": s.ordinal, "stage": s.stage,
               "action": s.action, "assigned_at": _iso(s.assigned_at),
               "withdrawn_at": _iso(s.revoked_at)}
              for s in db.session.scalars(sa.select(im.StageLedgerEntry).where(
                  im.StageLedgerEntry.learner_id == person.id)
                  .order_by(im.StageLedgerEntry.id))]

    roles = [{"course": courses[r.course_id].display_name if r.course_id in courses else None,
              "role": r.role, "last_confirmed_by_moodle": _iso(r.confirmed_at),
              "ended_at": _iso(r.revoked_at)}
             for r in db.session.scalars(sa.select(CourseRole).where(
                 CourseRole.person_id == person.id))]

    record_ids = {
        "person": [str(person.id)],
        "declaration": [str(d["id"]) for d in declarations],
        "ai_tool_request": [str(r["id"]) for r in requests],
        "incident": [str(c["id"]) for c in cases],
    }
    events = [{"seq": e.seq, "at": _iso(e.created_at), "action": e.action,
               "record": f"{e.object_type} {e.object_id}", "details": json.loads(e.details)}
              for e in _audit_events(person, record_ids)]

    left_out = [{"what": str(LEFT_OUT["notes"][0]) % {"n": notes_left_out},
                 "why": str(LEFT_OUT["notes"][1])}] if notes_left_out else []
    if withheld:
        left_out.append({"what": str(LEFT_OUT["withheld"][0]) % {"n": withheld},
                         "why": str(LEFT_OUT["withheld"][1])})
    left_out += [{"what": str(LEFT_OUT[k][0]), "why": str(LEFT_OUT[k][1])}
                 for k in ("others", "security")]
    return {
        "format": FORMAT, "version": 1, "generated_at": _iso(utcnow()),
        "requested_by": requested_by,
        "person": {"id": person.id, "moodle_user_id": person.sub, "name": person.display_name,
                   "given_name": person.given_name, "family_name": person.family_name,
                   "email": person.email or None, "username": person.username or None,
                   "platform": person.platform.display_name,
                   "first_seen": _iso(person.created_at),
                   "last_launch": _iso(person.last_launch_at)},
        "courses": roles,
        "declarations": declarations,
        "comprehension_attempts": attempts,
        "made_aware": aware,
        "ai_tool_requests": requests,
        "cases": cases,
        "stage_ledger": ledger,
        "appeals": appealed,
        "emails": _emails(person),
        "audit_events": events,
        "left_out": left_out,
    }


def _audit_events(person: Person, record_ids: dict[str, list[str]]) -> list[AuditEvent]:
    clauses = [sa.and_(AuditEvent.object_type == kind, AuditEvent.object_id.in_(ids))
               for kind, ids in record_ids.items() if ids]
    return list(db.session.scalars(sa.select(AuditEvent).where(sa.or_(*clauses))
                                   .order_by(AuditEvent.seq)))


def _emails(person: Person) -> list[dict[str, Any]]:
    addresses = {person.email} | set(db.session.scalars(
        sa.select(CourseMember.email).join(Course, Course.id == CourseMember.course_id)
        .where(CourseMember.sub == person.sub, Course.platform_id == person.platform_id)))
    hashes = [recipient_hash(a) for a in addresses if a]
    if not hashes:
        return []
    found = []
    for message in db.session.scalars(sa.select(OutboxMessage).where(
            OutboxMessage.kind == EMAIL, OutboxMessage.recipient_hash.in_(hashes))
            .order_by(OutboxMessage.id)):
        payload = json.loads(message.payload or "{}")
        found.append({"subject": payload.get("subject"), "kind": payload.get("template"),
                      "status": message.status, "queued_at": _iso(message.created_at),
                      "sent_at": _iso(message.delivered_at)})
    return found


def _safe_name(filename: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", filename or "file")[:80] or "file"


def _evidence_name(item: im.EvidenceItem) -> str:
    return f"evidence/{item.id}-{_safe_name(item.filename)}"


def _learner_file_name(item: im.LearnerFile) -> str:
    return f"your-files/{item.id}-{_safe_name(item.filename)}"


def schema() -> dict[str, Any]:
    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        return dict(json.load(handle))


def build_zip(person: Person, *, requested_by: str, actor: str) -> tuple[bytes, dict[str, Any]]:
    """The export as ZIP bytes, and its data; the export is audited (flushes)."""
    data = collect(person, requested_by=requested_by)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("my-data.json", json.dumps(data, indent=2, ensure_ascii=False))
        archive.writestr("my-data.pdf", to_pdf(data))
        archive.writestr("README.txt", _readme(data))
        for case in data["cases"]:
            for item in case["evidence"]:
                if item["file_in_export"]:
                    content = evidence_store.read(item["id"])
                    if content is not None:
                        archive.writestr(item["file_in_export"], content)
            for item in case["your_files"]:
                row = db.session.get(im.LearnerFile, item["id"])
                if row is not None:
                    archive.writestr(item["file_in_export"], row.content)
    audit.record(actor, "privacy.exported", "person", person.id,
                 {"requested_by": requested_by,
                  "counts": {k: len(v) for k, v in data.items() if isinstance(v, list)}})
    return buffer.getvalue(), data


def _readme(data: dict[str, Any]) -> str:
    lines = [gettext("Your data held by AIU, exported on %(date)s.",
                     date=data["generated_at"][:10]), "",
             "my-data.pdf   " + gettext("everything, to read"),
             "my-data.json  " + gettext("the same, for a computer (its format is described by "
                                        "export.schema.json in the tool's source)"),
             "evidence/     " + gettext("the files added as evidence to your cases (those "
                                        "shown to you)"),
             "your-files/   " + gettext("the files you added to your answers and appeals"), "",
             gettext("Left out, and why:")]
    lines += [f"- {item['what']}: {item['why']}" for item in data["left_out"]]
    return "\n".join(lines) + "\n"


SECTIONS = (
    ("courses", lazy_gettext("Your courses and roles")),
    ("declarations", lazy_gettext("Your AI use declarations")),
    ("comprehension_attempts", lazy_gettext("Your answers to the policy questions")),
    ("made_aware", lazy_gettext("When you were shown the policy")),
    ("ai_tool_requests",
     lazy_gettext("Your requests to use AI tools, and the ALS team's decisions")),
    ("cases", lazy_gettext("Incidents (cases) about your work")),
    ("stage_ledger", lazy_gettext("Your stage under the policy")),
    ("appeals", lazy_gettext("Your appeals")),
    ("emails", lazy_gettext("Emails the tool sent you")),
    ("audit_events", lazy_gettext("The tool's audit trail about your records")),
)


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        rows: list[tuple[str, str]] = []
        for key, inner in value.items():
            rows += _flatten(inner, f"{prefix}{_label(key)}" if not prefix
                             else f"{prefix} / {key.replace('_', ' ')}")
        return rows
    if isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            return [(prefix, ", ".join(str(v) for v in value) or gettext("none"))]
        rows = []
        for number, inner in enumerate(value, 1):
            rows += _flatten(inner, f"{prefix} {number}")
        return rows
    if value is None:
        return []
    if isinstance(value, bool):
        return [(prefix, gettext("yes") if value else gettext("no"))]
    return [(prefix, str(value))]


def to_pdf(data: dict[str, Any]) -> bytes:
    """The export as a readable PDF: every section, every record, in plain words."""
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    person = data["person"]
    doc = SimpleDocTemplate(buffer, pagesize=A4, title=gettext(
                            "Your data held by AIU: %(name)s", name=person["name"]), author="AIU",
                            leftMargin=18 * mm, rightMargin=18 * mm)

    def para(text: str, style: str = "BodyText") -> Paragraph:
        return Paragraph(escape(text).replace("\n", "<br/>"), styles[style])

    def table(rows: list[tuple[str, str]]) -> Table:
        built = Table([[para(a), para(b)] for a, b in rows]
                      or [[para(gettext("Nothing")), para("")]],
                      colWidths=[50 * mm, 124 * mm])
        built.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        return built

    date = data["generated_at"][:10]
    exported = gettext("Exported on %(date)s at the request of you.", date=date) \
        if data["requested_by"] == "learner" else gettext(
            "Exported on %(date)s at the request of an administrator.", date=date)
    story: list[Any] = [para(gettext("Your data held by AIU"), "Title"), para(exported)]
    story += [para(gettext("About you"), "Heading2"), table(_flatten(person)),
              Spacer(1, 4 * mm)]
    for key, title in SECTIONS:
        records = data[key]
        story.append(para(gettext("%(title)s (%(count)s)", title=title, count=len(records)),
                          "Heading2"))
        if not records:
            story.append(para(gettext("None.")))
        for number, record in enumerate(records, 1):
            story += [para(f"{number}.", "Heading4"), table(_flatten(record))]
        story.append(Spacer(1, 4 * mm))
    story.append(para(gettext("What this export leaves out, and why"), "Heading2"))
    for item in data["left_out"]:
        story.append(para(f"{item['what']}: {item['why']}"))
    doc.build(story)
    return buffer.getvalue()
