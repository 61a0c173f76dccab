"""The request flows' fixtures, for the notifications they cause."""

from tests.requests.conftest import grant_als, second_browser  # noqa: F401
