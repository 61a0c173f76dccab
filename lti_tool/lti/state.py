"""Login state and used nonces, shared by every worker: in the database by default, in
Redis when ``REDIS_URL`` is set. Both stores consume atomically, so two workers racing
with the same state or nonce can never both succeed."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import sqlalchemy as sa

from lti_tool.dbtypes import UTCDateTime, insert_ignoring_duplicates, utcnow
from lti_tool.extensions import db
from lti_tool.lti.models import LoginState, UsedNonce


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PendingLogin:
    nonce: str
    platform_id: int
    browser_hash: str


class LaunchStateStore(Protocol):
    def save_login(self, state: str, login: PendingLogin, ttl: int, *, client: str = "",
                   per_client: int = 0) -> None:
        """Keep the login for ``ttl`` seconds. With ``per_client``, at most that many logins
        wait for the same ``client`` (a hash of its address): older ones are dropped."""

    def consume_login(self, state: str) -> PendingLogin | None:
        """Return and forget the login for ``state``; None if unknown, used or expired."""

    def use_nonce(self, platform_id: int, nonce: str, ttl: int) -> bool:
        """Record the nonce; False if it was already used."""


# Built once (every login runs one): building them cost more CPU than running them.
_DELETE_STALE = sa.delete(LoginState).where(
    LoginState.expires_at < sa.bindparam("now", type_=UTCDateTime))
_DELETE_STALE_AND_BEYOND_CAP = sa.delete(LoginState).where(sa.or_(
    LoginState.expires_at < sa.bindparam("now", type_=UTCDateTime),
    LoginState.state_hash.in_(
        sa.select(LoginState.state_hash)
        .where(LoginState.client_hash == sa.bindparam("client"))
        .order_by(LoginState.created_at.desc(), LoginState.state_hash.desc())
        .offset(sa.bindparam("keep", type_=sa.Integer)))))

_INSERT_NONCE = {name: stmt.returning(UsedNonce.__table__.c.id)
                 for name, stmt in insert_ignoring_duplicates(UsedNonce.__table__).items()}


class DatabaseStateStore:
    def save_login(self, state: str, login: PendingLogin, ttl: int, *, client: str = "",
                   per_client: int = 0) -> None:
        now = utcnow()
        # Expired rows, and this client's oldest beyond its cap, are removed here, on the
        # cold side of the flow, in one indexed delete.
        if client and per_client > 0:
            db.session.execute(_DELETE_STALE_AND_BEYOND_CAP, {
                "now": now, "client": client, "keep": per_client - 1})
        else:
            db.session.execute(_DELETE_STALE, {"now": now})
        db.session.add(LoginState(state_hash=digest(state), nonce=login.nonce,
                                  platform_id=login.platform_id,
                                  browser_hash=login.browser_hash, client_hash=client or None,
                                  created_at=now, expires_at=now + timedelta(seconds=ttl)))
        db.session.flush()

    def consume_login(self, state: str) -> PendingLogin | None:
        row = db.session.execute(
            sa.delete(LoginState)
            .where(LoginState.state_hash == digest(state))
            .returning(LoginState.nonce, LoginState.platform_id, LoginState.browser_hash,
                       LoginState.expires_at)
        ).first()
        if row is None or row.expires_at < utcnow():
            return None
        return PendingLogin(row.nonce, row.platform_id, row.browser_hash)

    def use_nonce(self, platform_id: int, nonce: str, ttl: int) -> bool:
        # One statement: the insert is ignored when the nonce is there (no savepoint, and
        # two launches racing with one nonce cannot both insert it).
        # RETURNING, not rowcount: PostgreSQL's driver counts a skipped row differently.
        inserted = db.session.execute(_INSERT_NONCE[db.session.get_bind().dialect.name], {
            "platform_id": platform_id, "nonce": nonce,
            "expires_at": utcnow() + timedelta(seconds=ttl)}).first()
        return inserted is not None


class RedisStateStore:
    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url)

    def save_login(self, state: str, login: PendingLogin, ttl: int, *, client: str = "",
                   per_client: int = 0) -> None:
        value = json.dumps([login.nonce, login.platform_id, login.browser_hash])
        key = digest(state)
        self.redis.set(f"aiu:login:{key}", value, ex=ttl)
        if not client or per_client <= 0:
            return
        # The client's waiting logins, by time: the oldest beyond the cap are dropped.
        waiting = f"aiu:login-client:{client}"
        now = time.time()
        pipe = self.redis.pipeline()
        pipe.zadd(waiting, {key: now})
        pipe.zremrangebyscore(waiting, "-inf", now - ttl)
        pipe.expire(waiting, ttl)
        pipe.zrevrange(waiting, per_client, -1)
        dropped = pipe.execute()[-1]
        if dropped:
            pipe = self.redis.pipeline()
            pipe.zrem(waiting, *dropped)
            pipe.delete(*(f"aiu:login:{d.decode()}" for d in dropped))
            pipe.execute()

    def consume_login(self, state: str) -> PendingLogin | None:
        raw = self.redis.getdel(f"aiu:login:{digest(state)}")
        if raw is None:
            return None
        nonce, platform_id, browser_hash = json.loads(raw)  # type: ignore[arg-type]
        return PendingLogin(nonce, int(platform_id), browser_hash)

    def use_nonce(self, platform_id: int, nonce: str, ttl: int) -> bool:
        return bool(self.redis.set(f"aiu:nonce:{platform_id}:{digest(nonce)}", 1, nx=True,
                                   ex=ttl))


def purge_expired() -> int:
    """Delete nonces whose tokens have expired anyway, abandoned logins, ended sessions and
    expired cached values (run by the worker)."""
    from lti_tool.lti.models import CachedJson, WebSession

    now = utcnow()
    removed = 0
    for model in (UsedNonce, LoginState, WebSession, CachedJson):
        result = db.session.execute(sa.delete(model).where(model.expires_at < now))
        removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return removed
