"""The Stage-3 report pack for the awarding body (CIPD or CMI): the learner, the
qualification, the centre, and a timeline of every incident with its evidence, checks, the
learner's answers, decisions, staff names and times; as PDF (ReportLab) and CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app

from lti_tool.cases.access import (
    REPORT,
    can_see_everything,
    check_may_act,
    full_detail,
    staff_course_ids,
)
from lti_tool.cases.answers import answer_of, learner_cases
from lti_tool.cases.errors import ConflictOfInterest
from lti_tool.cases.evidence import evidence_of
from lti_tool.cases.letters import assignment_name
from lti_tool.cases.models import EvidenceItem, Incident
from lti_tool.cases.records import describe, timeline
from lti_tool.cases.standing import standing
from lti_tool.dbtypes import utcnow
from lti_tool.declarations import authentication, awareness
from lti_tool.declarations.service import effective_settings
from lti_tool.lti.exceptions import AccessDenied
from lti_tool.people.models import Person
from lti_tool.reports import safe_cell

AWARDING_BODIES = {"CIPD": "CIPD (Chartered Institute of Personnel and Development)",
                   "CMI": "CMI (Chartered Management Institute)"}


@dataclass(frozen=True)
class Step:
    seq: int
    at: datetime
    actor: str
    text: str


@dataclass(frozen=True)
class IncidentRecord:
    incident: Incident
    course: str
    assignment: str
    qualification: str | None
    raised_by: str
    source: str
    observations: str
    evidence: list[EvidenceItem]
    answer: str | None
    answered_at: datetime | None
    steps: list[Step]
    made_aware: list[str] = field(default_factory=list)  # M1 section B
    declaration: list[str] = field(default_factory=list)  # M1 section C


@dataclass(frozen=True)
class ReportPack:
    learner: Person
    qualification: str
    awarding_body: str
    centre: str
    centre_number: str
    generated_at: datetime
    generated_by: str
    stage: int
    upheld: int
    incidents: list[IncidentRecord] = field(default_factory=list)
    reported: list[Step] = field(default_factory=list)


def build_pack(learner: Person, viewer: Person) -> ReportPack:
    """Everything the awarding body needs about the learner's incidents, platform-wide.

    Only someone who may see every one of the learner's incidents in full (ALS members,
    tool administrators, or staff of every course involved) may build it.
    """
    cases = sorted(learner_cases(learner), key=lambda i: (i.raised_at, i.id))
    if viewer.id == learner.id:
        raise ConflictOfInterest("conflict_of_interest", "This report is about "
                                 "you, so you cannot produce it. Ask the ALS team "
                                 "or a tool administrator.")
    for case in cases:
        check_may_act(viewer, case, REPORT)
    staff_courses = staff_course_ids(viewer)
    everything = can_see_everything(viewer)
    if not all(full_detail(viewer, i, staff_courses, everything) for i in cases):
        raise AccessDenied("report_needs_full_access", "The report pack includes incidents "
                           "from courses you do not teach. Ask the ALS team or a tool "
                           "administrator to produce it.")
    records: list[IncidentRecord] = []
    reported: list[Step] = []
    qualification: str | None = None
    for incident in cases:
        settings = effective_settings(incident.placement)
        steps = [Step(e.seq, e.at, e.actor, describe(e))
                 for e in timeline(incident)]
        for entry in timeline(incident):
            if entry.kind == "follow_up_recorded" and entry.data.get("result") == "reported":
                reported.append(Step(entry.seq, entry.at, entry.actor,
                                     f"Reported to the awarding body on "
                                     f"{entry.data.get('done_on')}"))
        answer = answer_of(incident)
        if incident.outcome == "upheld" and settings.qualification:
            qualification = settings.qualification
        source = (f"AI-checking system: {incident.checker} ({incident.checker_result}); one "
                  "piece of evidence needing human judgement, not a verdict"
                  if incident.source == "checker" else "The marker's own observation")
        records.append(IncidentRecord(
            incident=incident, course=incident.course.display_name,
            assignment=assignment_name(incident.placement),
            qualification=settings.qualification, raised_by=incident.raised_by.display_name,
            source=source, observations=incident.observations,
            evidence=evidence_of(incident),
            answer=answer.text if answer else None,
            answered_at=answer.answered_at if answer else None, steps=steps,
            made_aware=[awareness.describe(e) for e in awareness.events(
                learner.id, incident.placement_id)] or ["No record of the learner opening "
                                                        "the policy for this assignment."],
            declaration=authentication.case_lines(learner.id, incident.placement_id,
                                                  incident.raised_at)))
    if qualification is None:
        qualification = next((r.qualification for r in records if r.qualification), None)
    current = standing(learner)
    cfg = current_app.config
    return ReportPack(
        learner=learner, qualification=qualification or "Not recorded",
        awarding_body=AWARDING_BODIES.get(qualification or "", "Not recorded"),
        centre=cfg["CENTRE_NAME"], centre_number=cfg["CENTRE_NUMBER"],
        generated_at=utcnow(), generated_by=viewer.display_name, stage=current.stage,
        upheld=current.upheld, incidents=records, reported=reported)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def to_csv(pack: ReportPack) -> str:
    """One row per step of every incident, plus rows for evidence and answers."""
    out = io.StringIO()
    raw = csv.writer(out)

    class _Writer:
        def writerow(self, row: list[object]) -> None:
            raw.writerow([safe_cell(cell) for cell in row])

    writer = _Writer()
    writer.writerow(["Learner", "Moodle user id", "Email", "Qualification", "Centre",
                     "Incident", "Course", "Assignment", "Row type", "When", "Who", "Detail"])
    base = [pack.learner.display_name, pack.learner.sub, pack.learner.email,
            pack.qualification, pack.centre]
    for record in pack.incidents:
        head = [*base, record.incident.id, record.course, record.assignment]
        writer.writerow([*head, "raised", _when(record.incident.raised_at), record.raised_by,
                         f"{record.source}. Observations: {record.observations}"])
        for item in record.evidence:
            detail = item.text or item.filename or ""
            writer.writerow([*head, "evidence", _when(item.added_at),
                             item.added_by.display_name, f"{item.label}: {detail}"])
        for line in record.made_aware:
            writer.writerow([*head, "B: made aware of the rules", "", "", line])
        for line in record.declaration:
            writer.writerow([*head, "C: declaration and authentication", "", "", line])
        if record.answer is not None:
            writer.writerow([*head, "learner's answer", _when(record.answered_at),
                             pack.learner.display_name, record.answer])
        for step in record.steps:
            writer.writerow([*head, f"step {step.seq}", _when(step.at), step.actor, step.text])
    return out.getvalue()


def to_pdf(pack: ReportPack) -> bytes:
    """The pack as a PDF document."""
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, title=f"Stage 3 report: "
                            f"{pack.learner.display_name}", author=pack.centre,
                            leftMargin=18 * mm, rightMargin=18 * mm)

    def para(text: str, style: str = "BodyText") -> Paragraph:
        return Paragraph(escape(text).replace("\n", "<br/>"), styles[style])

    story: list = [para("Report to the awarding body: AI misuse (Stage 3)", "Title"),
                   para(f"Learner AI Usage Policy, {pack.qualification}", "Heading3")]
    facts = [["Learner", pack.learner.display_name], ["Moodle user id", pack.learner.sub],
             ["Email", pack.learner.email], ["Qualification", pack.qualification],
             ["Awarding body", pack.awarding_body], ["Centre", pack.centre],
             ["Centre number", pack.centre_number or "Not recorded"],
             ["Current stage", f"Stage {pack.stage} ({pack.upheld} upheld incidents)"],
             ["Prepared by", f"{pack.generated_by}, {_when(pack.generated_at)}"]]
    for step in pack.reported:
        facts.append(["Reported", f"{step.text}, recorded by {step.actor} ({_when(step.at)})"])
    table = Table([[para(a), para(b)] for a, b in facts], colWidths=[40 * mm, 130 * mm])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [table, Spacer(1, 6 * mm)]
    for record in pack.incidents:
        incident = record.incident
        outcome = ("Upheld, Stage " + str(incident.stage) if incident.outcome == "upheld"
                   else "Not upheld" if incident.outcome == "not_upheld" else "Not decided")
        story.append(para(f"Incident {incident.id}: {record.assignment}, {record.course}",
                          "Heading2"))
        story.append(para(f"Raised {_when(incident.raised_at)} by {record.raised_by}. "
                          f"Outcome: {outcome}."))
        story.append(para(f"Source: {record.source}."))
        story.append(para(f"Marker's observations: {record.observations}"))
        story.append(para("B. How the learner was made aware of the rules", "Heading4"))
        story += [para(f"- {line}") for line in record.made_aware]
        story.append(para("C. Declaration and authentication", "Heading4"))
        story += [para(f"- {line}") for line in record.declaration]
        if record.evidence:
            story.append(para("Evidence", "Heading4"))
            for item in record.evidence:
                detail = item.text or (f"file {item.filename} ({item.size} bytes, sha256 "
                                       f"{item.sha256})" if item.filename else "")
                story.append(para(f"- {item.label}: {detail} (added by "
                                  f"{item.added_by.display_name}, {_when(item.added_at)})"))
        story.append(para("The learner's answer to 'how could this have occurred?'",
                          "Heading4"))
        story.append(para(f"{record.answer} ({_when(record.answered_at)})" if record.answer
                          else "No answer was given."))
        story.append(para("Timeline", "Heading4"))
        rows = [[para("When"), para("Who"), para("What")]] + [
            [para(_when(s.at)), para(s.actor), para(s.text)] for s in record.steps]
        steps = Table(rows, colWidths=[35 * mm, 35 * mm, 100 * mm], repeatRows=1)
        steps.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                                   ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story += [steps, Spacer(1, 6 * mm)]
    doc.build(story)
    return buffer.getvalue()
