"""The report tests use the incident tests' courses: the declaration activity in both."""

from tests.cases.conftest import courses, declared, incident_settings  # noqa: F401
