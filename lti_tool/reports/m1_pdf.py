"""The report to the awarding body as a PDF (ReportLab): the M1 form's header, sections A to
D for every case, every step, a sign-off block, and "Page n of N" on every page."""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

from lti_tool.reports.m1 import SECTION_TITLES, M1Report, evidence_line
from lti_tool.reports.m1_facts import CaseSection, Fact


def _when(fact_when: Any) -> str:
    return fact_when.strftime("%d %b %Y %H:%M UTC") if fact_when else ""


def to_pdf(report: M1Report) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas
    from reportlab.platypus import (
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    styles = getSampleStyleSheet()
    title = f"Report to the awarding body: {report.learner.display_name}"

    class NumberedCanvas(canvas.Canvas):
        """Draws "Page n of N" once the number of pages is known (pages are kept until
        the document is saved)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - ReportLab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont("Helvetica", 8)
                self.drawString(18 * mm, 10 * mm, f"{title} (confidential)")
                self.drawRightString(A4[0] - 18 * mm, 10 * mm,
                                     f"Page {self._pageNumber} of {total}")
                super().showPage()
            super().save()

    def para(text: str, style: str = "BodyText") -> Paragraph:
        return Paragraph(escape(text).replace("\n", "<br/>"), styles[style])

    def table(facts: list[Fact], widths: tuple[float, float] = (45 * mm, 129 * mm)) -> Table:
        data = []
        for f in facts:
            extra = ", ".join(v for v in (_when(f.when), f.who) if v)
            data.append([para(f.label), para(f.text + (f" ({extra})" if extra else ""))])
        grid = Table(data or [[para(""), para("Nothing recorded.")]], colWidths=widths)
        grid.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                                  ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        return grid

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, title=title, author=report.centre[0].text,
                            leftMargin=18 * mm, rightMargin=18 * mm, bottomMargin=20 * mm)
    story: list[Any] = [
        para("Report to the awarding body: suspected misuse of AI", "Title"),
        para("Shaped like the JCQ M1 form (report of suspected malpractice). Learner AI Usage "
             "Policy cases recorded in AIU.", "Italic"),
        para("Centre", "Heading2"), table(report.centre),
        para("Learner, qualification and unit", "Heading2"), table(report.learner_facts),
        Spacer(1, 4 * mm)]

    def per_case(letter: str, facts_of: Any, extra: Any = None) -> None:
        story.append(para(SECTION_TITLES[letter], "Heading1"))
        for case in report.cases:
            story.append(para(case.title, "Heading3"))
            story.append(table(facts_of(case)))
            if extra is not None:
                extra(case)
            story.append(Spacer(1, 3 * mm))

    def evidence(case: CaseSection) -> None:
        story.append(para("Evidence", "Heading4"))
        if not case.evidence:
            story.append(para("No evidence items."))
        for item in case.evidence:
            story.append(para(f"{item.reference}. {item.label}: {evidence_line(item)} "
                              f"(added by {item.added_by}, {_when(item.added_at)})"))

    per_case("A", lambda c: c.found, evidence)
    per_case("B", lambda c: c.made_aware)
    per_case("C", lambda c: c.declarations)
    per_case("D", lambda c: [*c.answers_checks, *c.decisions, *c.appeals])
    story.append(para("Every step of each case", "Heading1"))
    for case in report.cases:
        story.append(para(case.title, "Heading3"))
        rows = [[para("When"), para("Who"), para("What")]] + [
            [para(_when(s.when)), para(s.who), para(s.text)] for s in case.steps]
        steps = Table(rows, colWidths=[35 * mm, 35 * mm, 104 * mm], repeatRows=1)
        steps.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                                   ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story.append(steps)
    story.append(KeepTogether([
        para("Sign-off", "Heading1"),
        para("I confirm that this report is an accurate record of the centre's investigation "
             "and that the evidence files listed above are attached in the ZIP file sent with "
             "it (their SHA-256 checksums are in SHA256SUMS.txt)."),
        Spacer(1, 2 * mm),
        Table([[para(label), para("")] for label in (
            "Name", "Role at the centre", "Signature", "Date")],
            colWidths=[45 * mm, 129 * mm], rowHeights=[10 * mm] * 4,
            style=TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey)])),
        Spacer(1, 2 * mm),
        para(f"Prepared by {report.generated_by} on {_when(report.generated_at)}."),
    ]))
    doc.build(story, canvasmaker=NumberedCanvas)
    return buffer.getvalue()
