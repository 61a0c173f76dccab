"""Server-side sessions: the cookie carries a random id, the data stays in the database
(or Redis). Flask's default signed-cookie session would put launch data in the browser and
could not be revoked or regenerated at launch.

Written here rather than taken from Flask-Session because the cookie must carry
``Partitioned`` (CHIPS) to work inside Moodle's iframe and its id must be replaced on every
launch; both are a few lines on top of Flask's own ``SessionInterface``.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, Request, Response
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.lti.models import WebSession


class ServerSession(CallbackDict[str, Any], SessionMixin):
    def __init__(self, initial: dict[str, Any] | None = None, sid: str | None = None,
                 new: bool = False) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(initial, on_update)
        self.sid = sid
        self.new = new
        self.modified = False
        self.regenerate_requested = False

    def regenerate(self) -> None:
        """Drop everything and give this browser a new session id (done at every launch)."""
        self.clear()
        self.regenerate_requested = True
        self.modified = True


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode("ascii", errors="replace")).hexdigest()


class ServerSessionInterface(SessionInterface):
    serializer = TaggedJSONSerializer()

    def __init__(self, redis_url: str | None = None) -> None:
        self._redis = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url)

    # storage -------------------------------------------------------------------------
    def _load(self, sid: str) -> dict[str, Any] | None:
        key = _hash(sid)
        if self._redis is not None:
            raw = self._redis.get(f"aiu:session:{key}")
            return self.serializer.loads(raw.decode()) if raw else None  # type: ignore[union-attr]
        row = db.session.get(WebSession, key)
        if row is None or row.expires_at < utcnow():
            return None
        return dict(self.serializer.loads(row.data))

    def _store(self, sid: str, data: dict[str, Any], lifetime: timedelta, *,
               fresh: bool = False, replacing: str | None = None) -> None:
        """Write the session; ``fresh``: the id was made just now, so no row can exist;
        ``replacing``: the id it was given in place of (that row takes the new id)."""
        key = _hash(sid)
        raw = self.serializer.dumps(dict(data))
        if self._redis is not None:
            if replacing is not None:
                self._delete(replacing)
            self._redis.set(f"aiu:session:{key}", raw, ex=int(lifetime.total_seconds()))
            return
        expires = utcnow() + lifetime
        if replacing is not None:
            # A new id for the same browser (every launch): one UPDATE moves the row.
            moved = db.session.execute(
                sa.update(WebSession).where(WebSession.sid_hash == _hash(replacing))
                .values(sid_hash=key, data=raw, created_at=utcnow(), expires_at=expires)
                .execution_options(synchronize_session=False))
            if moved.rowcount:  # type: ignore[attr-defined]
                return
        row = None if fresh else db.session.get(WebSession, key)
        if row is None:
            db.session.add(WebSession(sid_hash=key, data=raw, expires_at=expires))
        else:
            row.data = raw
            row.expires_at = expires

    def _delete(self, sid: str) -> None:
        key = _hash(sid)
        if self._redis is not None:
            self._redis.delete(f"aiu:session:{key}")
        else:
            db.session.execute(sa.delete(WebSession).where(WebSession.sid_hash == key))

    # Flask hooks -----------------------------------------------------------------------
    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sid = request.cookies.get(self.get_cookie_name(app))
        if sid and len(sid) < 100:
            data = self._load(sid)
            if data is not None:
                return ServerSession(data, sid=sid)
        return ServerSession(new=True)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)
        name = self.get_cookie_name(app)
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        replacing = None
        if session.regenerate_requested and session.sid:
            replacing, session.sid = session.sid, None
        if not session:
            if replacing is not None:
                self._delete(replacing)
            if session.sid and session.modified:
                self._delete(session.sid)
                response.delete_cookie(name, domain=domain, path=path,
                                       secure=self.get_cookie_secure(app),
                                       samesite=self.get_cookie_samesite(app),
                                       partitioned=self.get_cookie_partitioned(app))
            return
        if not (session.modified or session.sid is None):
            return
        fresh = session.sid is None
        if fresh:
            session.sid = secrets.token_urlsafe(32)
        assert session.sid is not None
        self._store(session.sid, dict(session), app.permanent_session_lifetime, fresh=fresh,
                    replacing=replacing)
        # The request's own commit already ran; session writes commit here.
        if self._redis is None:
            db.session.commit()
        response.set_cookie(
            name, session.sid, max_age=app.permanent_session_lifetime, domain=domain,
            path=path, secure=self.get_cookie_secure(app),
            httponly=self.get_cookie_httponly(app), samesite=self.get_cookie_samesite(app),
            partitioned=self.get_cookie_partitioned(app),
        )
        response.vary.add("Cookie")
