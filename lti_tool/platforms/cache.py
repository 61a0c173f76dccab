"""Platform and deployment rows kept per process (see :class:`RowCache`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import make_transient_to_detached

from lti_tool.extensions import db
from lti_tool.platforms import changes
from lti_tool.platforms.models import Deployment, Platform

Row = TypeVar("Row", Platform, Deployment)


class RowCache:
    """Platform and deployment rows by the keys a launch looks them up with, kept per
    process: every login and launch needs them, and they change rarely. An entry is used
    while no commit in this process changed a platform or deployment and for at most
    ``REGISTRATION_CACHE_SECONDS`` (other processes' changes: a switched-off deployment
    stops launching within that time everywhere, at once in the process that switched it
    off). Only rows that exist are kept, so unknown issuers cannot fill it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clock: Callable[[], float] = time.monotonic  # tests move it on
        self._rows: dict[tuple[Any, ...], tuple[int, float, type, dict[str, Any]]] = {}

    def get(self, key: tuple[Any, ...], model: type[Row], load: Callable[[], Row | None]
            ) -> Row | None:
        ttl = float(current_app.config["REGISTRATION_CACHE_SECONDS"])
        now = self.clock()
        hit = self._rows.get(key)
        if hit is not None and hit[0] == changes.generation() and now - hit[1] < ttl:
            return _attached(model, hit[3])
        generation = changes.generation()  # before reading: a change meanwhile is seen
        row = load()
        if row is not None and ttl > 0:
            values = {c.key: getattr(row, c.key) for c in sa.inspect(model).column_attrs}
            with self._lock:
                self._rows[key] = (generation, now, model, values)
        return row


def _attached(model: type[Row], values: dict[str, Any]) -> Row:
    """The row in this request's session, from the identity map if it is there, else
    rebuilt from the cached values and attached as if just loaded (no SELECT)."""
    found = db.session.identity_map.get(sa.inspect(model).identity_key_from_primary_key(
        [values[c.key] for c in sa.inspect(model).primary_key]))
    if found is not None:
        return found  # type: ignore[no-any-return]
    row = model(**values)
    make_transient_to_detached(row)
    db.session.add(row)
    return row


def row_cache() -> RowCache:
    """The app's cache (one per app: tests run many apps with their own databases in one
    process)."""
    cache = current_app.extensions.get("aiu_row_cache")
    if cache is None:
        cache = current_app.extensions.setdefault("aiu_row_cache", RowCache())
    return cache  # type: ignore[no-any-return]
