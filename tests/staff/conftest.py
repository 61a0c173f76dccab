"""The incident tests' settings (checkers, upload limit) apply to the staff pages too."""

from tests.cases.conftest import incident_settings  # noqa: F401
