"""The report to the awarding body, shaped like the JCQ M1 form awarding bodies are used to:
the centre, the learner, the qualification and unit, then for every case of the learner on
the platform **A** the nature of the incident (how, when and by whom it was found, the
evidence with the SHA-256 of each file), **B** how the learner was made aware of the rules,
**C** declarations, authentication and the authorisations in force, **D** the learner's
answers, the checks and their notes, decisions with reasons, appeals and their outcomes.

:func:`build` gathers the facts once; :func:`to_csv`, :func:`evidence_zip` and
:func:`lti_tool.reports.m1_pdf.to_pdf` present the same facts. Every value is in words a
person reads (human labels, never the tool's internal codes).
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import datetime

from flask import Response, current_app

from lti_tool.cases.access import (
    REPORT,
    can_see_everything,
    check_may_act,
    full_detail,
    staff_course_ids,
)
from lti_tool.cases.answers import learner_cases
from lti_tool.cases.clocks import reportable
from lti_tool.cases.errors import ConflictOfInterest
from lti_tool.cases.models import Incident
from lti_tool.cases.standing import case_policy, case_standing
from lti_tool.dbtypes import utcnow
from lti_tool.declarations.service import effective_settings
from lti_tool.lti.exceptions import AccessDenied
from lti_tool.people.models import Person
from lti_tool.policy.service import Policy, current_or_bundled
from lti_tool.reports import attachment, filename_part, safe_cell
from lti_tool.reports.m1_facts import CaseSection, EvidenceEntry, Fact, case_sections, file_bytes

SECTION_TITLES = {
    "A": "A. Nature of the incident",
    "B": "B. How the learner was made aware of the rules",
    "C": "C. Declarations and authentication",
    "D": "D. The learner's answers, checks, decisions and appeals",
}


class ReportNeedsReporters(AccessDenied):
    """The viewer may not see every case in full: the reporting team must produce it."""


@dataclass
class M1Report:
    centre: list[Fact]
    learner_facts: list[Fact]
    learner: Person
    qualification: str
    unit: str
    awarding_body: str
    stage: int
    upheld: int
    generated_at: datetime
    generated_by: str
    cases: list[CaseSection]
    reportable: CaseSection | None

    @property
    def files(self) -> list[EvidenceEntry]:
        return [e for case in self.cases for e in case.evidence if e.archive_path]


def _check_access(learner: Person, viewer: Person, cases: list[Incident]) -> None:
    if viewer.id == learner.id:
        raise ConflictOfInterest("conflict_of_interest", "This report is about you, so you "
                                 "cannot produce it. Ask the ALS team or a tool "
                                 "administrator.")
    for case in cases:
        check_may_act(viewer, case, REPORT)
    staff_courses = staff_course_ids(viewer)
    everything = can_see_everything(viewer)
    if not all(full_detail(viewer, i, staff_courses, everything) for i in cases):
        raise ReportNeedsReporters("report_needs_full_access", "The report includes cases "
                                   "from courses you do not teach, so the reporting team "
                                   "(the ALS team or the quality lead) produces it.")


def reportable_case(cases: list[Incident], policy: Policy | None = None) -> Incident | None:
    """The case where the learner reached the stage its awarding body is told of (the
    latest such upheld case, each under its own policy unless ``policy`` is given), else
    None."""
    found = [i for i in cases if reportable(i, policy or case_policy(i))]
    return max(found, key=lambda i: (i.decided_at or i.raised_at, i.id)) if found else None


def build(learner: Person, viewer: Person) -> M1Report:
    """Every fact the awarding body needs about the learner's cases, platform-wide.

    Only someone who may see every case in full (ALS members, the quality lead, tool
    administrators, or staff of every course involved) may build it; others get
    :class:`ReportNeedsReporters` (the page then offers to send it to the reporters).
    """
    cases = sorted(learner_cases(learner), key=lambda i: (i.raised_at, i.id))
    _check_access(learner, viewer, cases)
    reportable = reportable_case(cases)
    sections = case_sections(learner, cases, reportable)
    chosen = next((s for s in sections if s.reportable), None) or (
        sections[-1] if sections else None)
    qualification = (effective_settings(chosen.incident.placement).qualification
                     if chosen else None) or "Not recorded"
    policy = case_policy(chosen.incident) if chosen else current_or_bundled()
    body = policy.rules.awarding_body(qualification)
    awarding_body = body.name if body is not None else "Not recorded"
    cfg = current_app.config
    contact = ", ".join(v for v in (cfg.get("CENTRE_CONTACT_NAME"),
                                    cfg.get("CENTRE_CONTACT_EMAIL"),
                                    cfg.get("CENTRE_CONTACT_PHONE")) if v)
    centre = [Fact("Centre name", cfg["CENTRE_NAME"]),
              Fact("Centre number", cfg["CENTRE_NUMBER"] or "Not recorded"),
              Fact("Centre contact", contact or "Not recorded")]
    current = (case_standing(chosen.incident) if chosen else None)
    learner_facts = [
        Fact("Learner", learner.display_name),
        Fact("Learner number (Moodle user id)", learner.sub),
        Fact("Email", learner.email or "Not shared by Moodle"),
        Fact("Qualification", qualification),
        Fact("Unit (assignment)", chosen.assignment if chosen else "Not recorded"),
        Fact("Awarding body", awarding_body),
        Fact("Stage under the policy", f"Stage {current.stage} ({current.upheld} upheld "
             f"case{'s' if current.upheld != 1 else ''} {current.scope_text})"
             if current and current.stage else "None"),
        Fact("Case being reported", chosen.title if chosen and chosen.reportable
             else "No case has reached the stage that is reported"),
        *(fact for section in sections for fact in section.reported),
    ]
    return M1Report(
        centre=centre, learner_facts=learner_facts, learner=learner,
        qualification=qualification, unit=chosen.assignment if chosen else "",
        awarding_body=awarding_body,
        stage=current.stage if current else 0, upheld=current.upheld if current else 0,
        generated_at=utcnow(),
        generated_by=viewer.display_name, cases=sections,
        reportable=next((s for s in sections if s.reportable), None))


# --- CSV and ZIP --------------------------------------------------------------------------------

def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


CSV_HEADER = ["Section", "Case", "Course", "Assignment", "Item", "When", "Who", "Detail"]


def rows(report: M1Report) -> list[list[str]]:
    """The report's facts, one per row (the CSV), in the order of the PDF."""
    out: list[list[str]] = []
    for fact in report.centre:
        out.append(["Centre", "", "", "", fact.label, "", "", fact.text])
    for fact in report.learner_facts:
        out.append(["Learner", "", "", "", fact.label, "", "", fact.text])
    parts = (("A", lambda s: s.found), ("B", lambda s: s.made_aware),
             ("C", lambda s: s.declarations),
             ("D", lambda s: [*s.answers_checks, *s.decisions, *s.appeals]))
    for letter, facts_of in parts:
        for case in report.cases:
            head = [SECTION_TITLES[letter], case.title, case.course, case.assignment]
            for fact in facts_of(case):
                out.append([*head, fact.label, _when(fact.when), fact.who, fact.text])
            if letter == "A":
                for item in case.evidence:
                    out.append([*head, f"Evidence {item.reference}: {item.label}",
                                _when(item.added_at), item.added_by, evidence_line(item)])
    for case in report.cases:
        for fact in case.steps:
            out.append(["Every step", case.title, case.course, case.assignment, fact.label,
                        _when(fact.when), fact.who, fact.text])
    out.append(["Prepared", "", "", "", "Prepared by", _when(report.generated_at),
                report.generated_by, "Generated by AIU for the awarding body"])
    return out


def evidence_line(item: EvidenceEntry) -> str:
    """An evidence item in words, with its file's name, size, SHA-256 and place in the ZIP."""
    parts = [item.kind]
    if item.detail:
        parts.append(item.detail)
    if item.filename:
        parts.append(f"file {item.filename} ({item.size} bytes), SHA-256 {item.sha256}, in "
                     f"the ZIP as {item.archive_path}")
    if item.relied_on is not None:
        parts.append("relied on in the decision" if item.relied_on
                     else "not relied on in the decision")
    return "; ".join(parts)


def to_csv(report: M1Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for row in rows(report):
        writer.writerow([safe_cell(cell) for cell in row])
    return out.getvalue()


def evidence_zip(report: M1Report) -> bytes:
    """The evidence files, each at the path the PDF and CSV give, with ``SHA256SUMS.txt``
    (``sha256sum -c`` checks it)."""
    buffer = io.BytesIO()
    sums: list[str] = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in report.files:
            content = file_bytes(item.evidence_id)
            if content is None or item.archive_path is None:
                continue
            archive.writestr(item.archive_path, content)
            sums.append(f"{item.sha256}  {item.archive_path}")
        archive.writestr("SHA256SUMS.txt", "\n".join(sums) + ("\n" if sums else ""))
    return buffer.getvalue()


def download(report: M1Report, fmt: str) -> Response:
    """The report as a download: ``pdf``, ``csv`` or ``zip`` (the evidence files)."""
    from lti_tool.reports.m1_pdf import to_pdf

    name = f"aiu-report-to-awarding-body-{filename_part(report.learner.sub)}.{fmt}"
    if fmt == "pdf":
        return attachment(to_pdf(report), "application/pdf", name)
    if fmt == "csv":
        return attachment(to_csv(report), "text/csv", name)
    return attachment(evidence_zip(report), "application/zip",
                      name.replace("report-to-awarding-body", "evidence"))
