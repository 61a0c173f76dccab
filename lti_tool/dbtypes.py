"""Column types and clock helpers shared by every domain's models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (the only kind of time the tool stores)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite has no time zones, so without this a value written aware is read back naive and
    comparisons with :func:`utcnow` fail.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class ImmutableRecord(RuntimeError):
    """Raised on an attempt to change a record that is never changed once written."""


def never_updated(*models: type) -> None:
    """Make the ORM refuse any UPDATE of these models (append-only records: a change is a
    new row)."""
    from sqlalchemy import event

    def refuse(mapper: Any, connection: Any, target: Any) -> None:
        raise ImmutableRecord(f"{type(target).__name__} rows are never changed: record a "
                              "new one")

    for model in models:
        event.listen(model, "before_update", refuse)


def insert_ignoring_duplicates(table: Any) -> dict[str, Any]:
    """``INSERT … ON CONFLICT DO NOTHING`` into ``table``, built once per dialect: look it
    up by ``db.session.get_bind().dialect.name`` and execute it with the row's values."""
    from sqlalchemy.dialects import postgresql, sqlite

    return {name: dialect.insert(table).on_conflict_do_nothing()
            for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}
