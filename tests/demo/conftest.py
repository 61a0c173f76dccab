"""Fixtures for the stand-in's own tests: a running stand-in, a throwaway tool, a browser."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lti_tool.demo.platform import MoodleStandIn, ToolRegistration
from tests.support.browser import FormBrowser
from tests.support.fake_tool import FakeTool
from tests.support.moodle import MoodleFactory, moodle_factory  # noqa: F401

# Copies of real Moodle 4.5 recordings (see tests/data/README.md for their source).
CAPTURES = Path(__file__).resolve().parents[1] / "data" / "moodle" / "captures"


def capture(name: str) -> dict[str, Any]:
    """A recording from tests/data/moodle/captures."""
    data: dict[str, Any] = json.loads((CAPTURES / name).read_text("utf-8"))
    return data


@pytest.fixture
def standin(moodle_factory: MoodleFactory) -> MoodleStandIn:  # noqa: F811
    return moodle_factory.start()


@pytest.fixture
def fake_tool() -> Iterator[FakeTool]:
    tool = FakeTool()
    yield tool
    tool.shutdown()


@pytest.fixture
def registration(standin: MoodleStandIn, fake_tool: FakeTool) -> ToolRegistration:
    return fake_tool.register_on(standin, name="LTI Sample Tool")


@pytest.fixture
def form_browser() -> Iterator[FormBrowser]:
    browser = FormBrowser(timeout=5)
    yield browser
    browser.close()
