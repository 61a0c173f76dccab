"""The course dashboard a staff launch opens: every learner with their declaration for the
placement, their open incidents and their stage across the platform, searched, filtered,
sorted and cut into pages of ``PAGE_SIZE`` on the server. The same handful of queries
whatever the size of the course (AI-tool authorisations are read for the page shown only)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from flask_babel import lazy_gettext

from lti_tool.cases.ledger import LearnerSummary, summaries
from lti_tool.cases.standing import placement_ledger_key
from lti_tool.declarations.overview import OverviewRow, placement_overview
from lti_tool.people.models import Course, Placement
from lti_tool.policy.service import Policy

SORTS = {"name": lazy_gettext("Name"), "declaration": lazy_gettext("Declaration"),
         "stage": lazy_gettext("Stage"), "incidents": lazy_gettext("Open incidents")}
DECLARATION_FILTERS = {"all": lazy_gettext("All"), "declared": lazy_gettext("Declared"),
                       "not-declared": lazy_gettext("Not declared"),
                       "outdated": lazy_gettext("Needs to declare again")}
INCIDENT_FILTERS = {"all": lazy_gettext("All"), "open": lazy_gettext("With an open incident"),
                    "staged": lazy_gettext("At Stage 1 or above"),
                    "none": lazy_gettext("No open incident and no stage")}
_DECLARATION_ORDER = {"none": 0, "outdated": 1, "current": 2}
PAGE_SIZE = 50
# Declaration states of learners who have not declared under the current policy.
NOT_DECLARED = ("none", "outdated")
_NO_INCIDENTS = LearnerSummary(0, 0, 0, 0, 0)


@dataclass(frozen=True)
class DashboardRow:
    row: OverviewRow
    incidents: LearnerSummary

    def __getattr__(self, name: str) -> Any:  # the declaration row's fields, for templates
        return getattr(self.row, name)


@dataclass(frozen=True)
class DashboardQuery:
    sort: str = "declaration"
    descending: bool = False
    declaration: str = "all"
    incidents: str = "all"
    search: str = ""  # part of a name or email address
    page: int = 1

    @classmethod
    def from_args(cls, args: Any) -> DashboardQuery:
        """Read ``sort``, ``order``, ``declaration``, ``incidents``, ``q`` and ``page``
        query parameters; anything unknown falls back to the default."""
        sort = args.get("sort", "declaration")
        declaration = args.get("declaration", "all")
        incidents = args.get("incidents", "all")
        try:
            page = max(int(args.get("page", 1)), 1)
        except (TypeError, ValueError):
            page = 1
        return cls(sort if sort in SORTS else "declaration", args.get("order") == "desc",
                   declaration if declaration in DECLARATION_FILTERS else "all",
                   incidents if incidents in INCIDENT_FILTERS else "all",
                   " ".join(str(args.get("q", "")).split())[:100], page)

    def args(self, **changes: Any) -> dict[str, str]:
        """Query parameters for a link (with ``changes``); a change of anything but the
        page starts again at page 1."""
        values: dict[str, Any] = {"sort": self.sort,
                                  "order": "desc" if self.descending else "asc",
                                  "declaration": self.declaration, "incidents": self.incidents}
        if self.search:
            values["q"] = self.search
        if self.page > 1 and "page" not in changes and not changes:
            values["page"] = self.page
        values.update({k: v for k, v in changes.items()})
        return {k: str(v) for k, v in values.items()}

    def toggled(self, sort: str) -> dict[str, str]:
        """The parameters for a column header link: sort by it, or reverse if already."""
        descending = not self.descending if sort == self.sort else sort in ("stage",
                                                                            "incidents")
        return self.args(sort=sort, order="desc" if descending else "asc")


@dataclass(frozen=True)
class DashboardPage:
    """One page of the dashboard: ``rows`` (at most ``PAGE_SIZE``) of ``matching`` learners
    that the search and filters keep, out of ``total`` in the course."""

    rows: list[DashboardRow]
    matching: list[DashboardRow]
    total: int
    declared: int
    page: int
    pages: int

    @property
    def first(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0


def course_dashboard(course: Course, placement: Placement, policy: Policy,
                     query: DashboardQuery) -> DashboardPage:
    """Every learner of the course with their declaration and incident summary, searched,
    filtered and sorted as ``query`` asks, and the page it asks for (the last one if it
    asks for more)."""
    from lti_tool.requests.service import active_authorisations_by_person

    rows = placement_overview(course, placement, policy, with_authorisations=False)
    found = summaries((r.person_id for r in rows if r.person_id is not None),
                      placement_ledger_key(placement, policy))
    every = [DashboardRow(r, found.get(r.person_id, _NO_INCIDENTS) if r.person_id is not None
                          else _NO_INCIDENTS) for r in rows]
    matching = matching_rows(every, query)
    pages = max((len(matching) + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    page = min(query.page, pages)
    shown = matching[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    ids = [r.person_id for r in shown if r.person_id is not None]
    held = active_authorisations_by_person(ids, placement_id=placement.id) if ids else {}
    shown = [DashboardRow(replace(r.row, authorisations=held.get(r.person_id, [])
                                  if r.person_id is not None else []), r.incidents)
             for r in shown]
    return DashboardPage(shown, matching, len(every),
                         sum(1 for r in every if r.row.status.declared), page, pages)


def matching_rows(every: list[DashboardRow], query: DashboardQuery) -> list[DashboardRow]:
    """The rows the search and filters keep, sorted as ``query`` asks (every page)."""
    needle = query.search.casefold()
    shown = [r for r in every if _keep(r, query) and (
        not needle or needle in r.row.name.casefold() or needle in r.row.email.casefold())]
    shown.sort(key=lambda r: r.row.name.casefold(),
               reverse=query.sort == "name" and query.descending)
    if query.sort != "name":  # stable: names stay in order within each group
        shown.sort(key=lambda r: _key(r, query.sort), reverse=query.descending)
    return shown


def _keep(row: DashboardRow, query: DashboardQuery) -> bool:
    state = row.row.status.state
    if query.declaration == "declared" and state != "current":
        return False
    if query.declaration == "not-declared" and state != "none":
        return False
    if query.declaration == "outdated" and state != "outdated":
        return False
    if query.incidents == "open" and not row.incidents.open_count:
        return False
    if query.incidents == "staged" and not row.incidents.stage:
        return False
    return not (query.incidents == "none" and (row.incidents.open_count
                                              or row.incidents.stage))


def _key(row: DashboardRow, sort: str) -> int:
    if sort == "stage":
        return row.incidents.stage
    if sort == "incidents":
        return row.incidents.open_count
    return _DECLARATION_ORDER.get(row.row.status.state, 0)
