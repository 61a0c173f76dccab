"""Analytics: raised and upheld side by side with a legend, months with their year, a range
of months, tables that add how incidents were decided, activity titles, CSV downloads with
the same human headings."""

from __future__ import annotations

import csv
import io
from typing import Any

from lti_tool.dbtypes import utcnow
from tests.cases.flows import Courses
from tests.reports.test_reports import _uphold
from tests.support.browser import FormBrowser, launch
from tests.support.pages import text


def test_grouped_months_range_and_csv(declared: Courses, moodle: Any) -> None:
    _uphold(moodle, "marker1", declared.cipd.id)
    month = utcnow().strftime("%B %Y")
    key = utcnow().strftime("%Y-%m")
    with FormBrowser() as marker1:
        overview = launch(marker1, moodle, "marker1", declared.cipd.id)
        page = marker1.open(overview.url + "/analytics")
        words = text(page)
        assert f"{month}: 1 raised, 1 upheld." in page.text  # the chart's text alternative
        assert ">Raised</text>" in page.text and ">Upheld</text>" in page.text  # the legend
        assert f">{utcnow().strftime('%Y')}</text>" in page.text  # the year under the months
        assert "Not decided yet" in words and "100 %" in words  # beyond the chart
        assert "Unit 1 declaration" in words  # the activity's title in the tool
        assert "Upheld at Stage 1" in words

        # Months before the incident: nothing raised; a reversed range is refused plainly.
        earlier = marker1.open(overview.url + "/analytics?from=2025-01&to=2025-03")
        assert "January 2025 to March 2025" in text(earlier)
        assert "1 raised" not in earlier.text
        wrong = marker1.open(overview.url + "/analytics?from=2025-05&to=2025-01")
        assert "The first month must not be after the last." in text(wrong)

        months = marker1.open(overview.url + f"/analytics-months.csv?from={key}&to={key}")
        assert months.status_code == 200
        assert months.headers["Content-Disposition"].startswith("attachment")
        rows = list(csv.reader(io.StringIO(months.text)))
        assert rows == [["Month", "Incidents raised", "Upheld", "Not upheld", "Not decided yet",
                         "Upheld of those decided (%)"], [month, "1", "1", "0", "0", "100"]]
        courses = list(csv.reader(io.StringIO(
            marker1.open(overview.url + "/analytics-courses.csv").text)))
        assert courses[1][0] == "CIPD L5 People Practice" and courses[1][4] == "1"
        activities = list(csv.reader(io.StringIO(
            marker1.open(overview.url + "/analytics-activities.csv").text)))
        assert activities[0][0] == "Activity" and activities[1][0] == "Unit 1 declaration"
