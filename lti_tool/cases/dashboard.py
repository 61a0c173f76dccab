"""The course dashboard a staff launch opens: every learner with their declaration for the
placement, their open incidents and their stage across the platform, sorted and filtered on
the server. Five queries whatever the size of the course."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lti_tool.cases.ledger import LearnerSummary, summaries
from lti_tool.declarations.overview import OverviewRow, placement_overview
from lti_tool.people.models import Course, Placement
from lti_tool.policy.service import Policy

SORTS = {"name": "Name", "declaration": "Declaration", "stage": "Stage",
         "incidents": "Open incidents"}
DECLARATION_FILTERS = {"all": "All", "declared": "Declared", "not-declared": "Not declared",
                       "outdated": "Needs to declare again"}
INCIDENT_FILTERS = {"all": "All", "open": "With an open incident",
                    "staged": "At Stage 1 or above", "none": "No open incident and no stage"}
_DECLARATION_ORDER = {"none": 0, "outdated": 1, "current": 2}
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

    @classmethod
    def from_args(cls, args: Any) -> DashboardQuery:
        """Read ``sort``, ``order``, ``declaration`` and ``incidents`` query parameters;
        anything unknown falls back to the default."""
        sort = args.get("sort", "declaration")
        declaration = args.get("declaration", "all")
        incidents = args.get("incidents", "all")
        return cls(sort if sort in SORTS else "declaration", args.get("order") == "desc",
                   declaration if declaration in DECLARATION_FILTERS else "all",
                   incidents if incidents in INCIDENT_FILTERS else "all")

    def args(self, **changes: Any) -> dict[str, str]:
        """Query parameters for a link (with ``changes``)."""
        values = {"sort": self.sort, "order": "desc" if self.descending else "asc",
                  "declaration": self.declaration, "incidents": self.incidents}
        values.update({k: v for k, v in changes.items()})
        return values

    def toggled(self, sort: str) -> dict[str, str]:
        """The parameters for a column header link: sort by it, or reverse if already."""
        descending = not self.descending if sort == self.sort else sort in ("stage",
                                                                            "incidents")
        return self.args(sort=sort, order="desc" if descending else "asc")


def course_dashboard(course: Course, placement: Placement, policy: Policy,
                     query: DashboardQuery) -> tuple[list[DashboardRow], list[DashboardRow]]:
    """(all rows, the rows to show): every learner of the course with their declaration
    and incident summary, then filtered and sorted as ``query`` asks."""
    rows = placement_overview(course, placement, policy)
    found = summaries(r.person_id for r in rows if r.person_id is not None)
    every = [DashboardRow(r, found.get(r.person_id, _NO_INCIDENTS) if r.person_id is not None
                          else _NO_INCIDENTS) for r in rows]
    shown = [r for r in every if _keep(r, query)]
    shown.sort(key=lambda r: r.row.name.casefold(),
               reverse=query.sort == "name" and query.descending)
    if query.sort != "name":  # stable: names stay in order within each group
        shown.sort(key=lambda r: _key(r, query.sort), reverse=query.descending)
    return every, shown


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
