"""Values fetched from platforms (JWKS, service tokens), shared by every worker as JSON: in
the database by default, in Redis when ``REDIS_URL`` is set. Never pickled, so whoever can
change a stored value still cannot make the tool run code.

A per-process memo sits in front, so a launch at steady state reads neither the store nor
the network; ``get(..., fresh=True)`` skips it when another worker may know better.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from flask import Flask, current_app

from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.lti.models import CachedJson


class JsonBackend(Protocol):
    def load(self, key: str) -> Any | None: ...

    def save(self, key: str, value: Any, ttl: int) -> None: ...

    def remove(self, key: str) -> None: ...


class DatabaseBackend:
    """Rows of ``cached_json``, written in the caller's transaction (services only flush)."""

    def load(self, key: str) -> Any | None:
        row = db.session.execute(
            sa.select(CachedJson.value).where(CachedJson.key == key,
                                              CachedJson.expires_at > utcnow())).first()
        return None if row is None else json.loads(row.value)

    def save(self, key: str, value: Any, ttl: int) -> None:
        values = {"key": key, "value": json.dumps(value),
                  "expires_at": utcnow() + timedelta(seconds=ttl)}
        dialect = db.session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        statement = insert(CachedJson).values(**values)
        db.session.execute(statement.on_conflict_do_update(
            index_elements=[CachedJson.key],
            set_={"value": statement.excluded.value,
                  "expires_at": statement.excluded.expires_at}))

    def remove(self, key: str) -> None:
        db.session.execute(sa.delete(CachedJson).where(CachedJson.key == key))


class RedisBackend:
    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url)

    def load(self, key: str) -> Any | None:
        raw = self.redis.get(f"aiu:json:{key}")
        return None if raw is None else json.loads(raw)  # type: ignore[arg-type]

    def save(self, key: str, value: Any, ttl: int) -> None:
        self.redis.set(f"aiu:json:{key}", json.dumps(value), ex=max(int(ttl), 1))

    def remove(self, key: str) -> None:
        self.redis.delete(f"aiu:json:{key}")


class JsonStore:
    """``backend`` with a per-process memo in front (entries expire with their ttl)."""

    def __init__(self, backend: JsonBackend) -> None:
        self.backend = backend
        self._memo: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, *, fresh: bool = False) -> Any | None:
        if not fresh:
            hit = self._memo.get(key)
            if hit is not None and hit[0] > time.time():
                return hit[1]
        value = self.backend.load(key)
        with self._lock:
            if value is None:
                self._memo.pop(key, None)
            else:
                # The store does not say how long the value has left: keep it for a minute
                # at most here, so a worker's memo never outlives the shared copy by long.
                self._memo[key] = (time.time() + 60, value)
        return value

    def set(self, key: str, value: Any, ttl: int) -> None:
        self.backend.save(key, value, ttl)
        with self._lock:
            self._memo[key] = (time.time() + ttl, value)

    def delete(self, key: str) -> None:
        self.backend.remove(key)
        with self._lock:
            self._memo.pop(key, None)


def init_app(app: Flask) -> None:
    redis_url = app.config.get("REDIS_URL")
    backend: JsonBackend = RedisBackend(redis_url) if redis_url else DatabaseBackend()
    app.extensions["aiu_json_store"] = JsonStore(backend)


def json_store() -> JsonStore:
    return current_app.extensions["aiu_json_store"]  # type: ignore[no-any-return]

