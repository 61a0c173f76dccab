"""Start Moodle stand-ins on free loopback ports for tests, and stop them afterwards.

Use the factory directly::

    factory = MoodleFactory()
    standin = factory.start()            # serving at standin.issuer
    ...
    factory.stop_all()

or the fixtures, by importing them into a conftest.py::

    from tests.support.moodle import moodle_factory, running_moodle  # noqa: F401

``running_moodle`` gives one started ``MoodleStandIn``; ``moodle_factory`` gives the factory
for tests needing several sites (several issuers).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lti_tool.demo.platform import MoodleStandIn
from lti_tool.demo.server import DeferredApp, ServerHandle, serve_in_thread


class MoodleFactory:
    """Starts ``MoodleStandIn`` servers (threaded, on loopback) and stops them all."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.handles: list[ServerHandle] = []
        self.standins: list[MoodleStandIn] = []

    def start(self, *, host: str | None = None, port: int = 0, **kwargs: Any) -> MoodleStandIn:
        """A stand-in serving at ``http://<host>:<port>`` (a free port by default); keyword
        arguments go to ``MoodleStandIn`` (e.g. ``token_lifetime``)."""
        holder = DeferredApp()
        handle = serve_in_thread(holder, host or self.host, port)
        standin = MoodleStandIn(handle.url, **kwargs)
        holder.app = standin.app
        self.handles.append(handle)
        self.standins.append(standin)
        return standin

    def handle_for(self, standin: MoodleStandIn) -> ServerHandle:
        return self.handles[self.standins.index(standin)]

    def stop(self, standin: MoodleStandIn) -> None:
        self.handle_for(standin).shutdown()

    def stop_all(self) -> None:
        for handle in self.handles:
            handle.shutdown()
        self.handles.clear()
        self.standins.clear()


@pytest.fixture
def moodle_factory() -> Iterator[MoodleFactory]:
    factory = MoodleFactory()
    yield factory
    factory.stop_all()


@pytest.fixture
def running_moodle(moodle_factory: MoodleFactory) -> MoodleStandIn:
    return moodle_factory.start()
