"""A per-process count of committed changes to platforms and deployments.

Per-process caches of platform data (the launch's registration and deployment rows, the
frame-ancestors origins) remember the count they were filled at: a commit in this process
that adds, changes or deletes a platform or deployment makes them stale at once; other
processes see the change when their cache's time limit runs out.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

_generation = 0


def generation() -> int:
    return _generation


@event.listens_for(Session, "after_flush")
def _note_change(session: Session, _: Any) -> None:
    from lti_tool.platforms.models import Deployment, Platform

    if any(isinstance(obj, Platform | Deployment)
           for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info["platforms_changed"] = True


@event.listens_for(Session, "after_bulk_update")
@event.listens_for(Session, "after_bulk_delete")
def _note_bulk_change(update_context: Any) -> None:
    from lti_tool.platforms.models import Deployment, Platform

    mapper = getattr(update_context, "mapper", None)
    if mapper is not None and mapper.class_ in (Platform, Deployment):
        update_context.session.info["platforms_changed"] = True


@event.listens_for(Session, "after_commit")
def _count_change(session: Session) -> None:
    global _generation
    if session.info.pop("platforms_changed", False):
        _generation += 1


@event.listens_for(Session, "after_rollback")
def _drop_note(session: Session) -> None:
    session.info.pop("platforms_changed", None)
