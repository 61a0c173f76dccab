"""pylti1p3's tool configuration, read from the database instead of a JSON file."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app
from pylti1p3.deployment import Deployment as LtiDeployment
from pylti1p3.registration import Registration
from pylti1p3.tool_config.abstract import ToolConfAbstract
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


class PlatformRegistration(Registration):
    """A pylti1p3 registration that remembers which :class:`Platform` row it came from."""

    def __init__(self, platform: Platform) -> None:
        super().__init__()
        self.platform = platform
        self.set_issuer(platform.issuer)
        self.set_client_id(platform.client_id)
        self.set_auth_login_url(platform.auth_login_url)
        self.set_auth_token_url(platform.auth_token_url)
        self.set_key_set_url(platform.key_set_url)


class DatabaseToolConfig(ToolConfAbstract[Any]):
    """Registrations are :class:`Platform` rows; deployments are :class:`Deployment` rows.

    Inactive registrations are returned too, so callers can tell "switched off" apart from
    "unknown". ``check_iss_has_one_client`` is answered from the data: a login initiation
    that omits ``client_id`` only works while the issuer has a single registration.
    """

    def __init__(self) -> None:
        super().__init__()
        self.issuers_relation_types = {}

    def _platforms(self, iss: str) -> list[Platform]:
        return list(db.session.scalars(sa.select(Platform).where(Platform.issuer == iss)))

    def check_iss_has_one_client(self, iss: str) -> bool:
        return len(self._platforms(iss)) == 1

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return len(self._platforms(iss)) > 1

    def find_registration_by_issuer(self, iss: str, *args: Any,
                                    **kwargs: Any) -> PlatformRegistration:
        found = self._platforms(iss)
        return PlatformRegistration(found[0]) if len(found) == 1 else None  # type: ignore[return-value]

    def find_registration_by_params(self, iss: str, client_id: str, *args: Any,
                                    **kwargs: Any) -> PlatformRegistration:
        platform = row_cache().get(
            ("platform", iss, client_id), Platform, lambda: db.session.scalar(
                sa.select(Platform).where(Platform.issuer == iss,
                                          Platform.client_id == client_id)))
        return PlatformRegistration(platform) if platform else None  # type: ignore[return-value]

    def find_deployment(self, iss: str, deployment_id: str) -> LtiDeployment | None:
        found = self._platforms(iss)
        if len(found) != 1:
            return None
        return self.find_deployment_by_params(iss, deployment_id, found[0].client_id)

    def find_deployment_by_params(self, iss: str, deployment_id: str, client_id: str,
                                  *args: Any, **kwargs: Any) -> LtiDeployment | None:
        row = self.deployment_row(iss, client_id, deployment_id)
        if row is None or not row.active:
            return None
        return LtiDeployment().set_deployment_id(deployment_id)

    def deployment_row(self, iss: str, client_id: str, deployment_id: str) -> Deployment | None:
        return row_cache().get(("deployment", iss, client_id, deployment_id), Deployment,
                        lambda: db.session.scalar(
                            sa.select(Deployment).join(Platform)
                            .where(Platform.issuer == iss, Platform.client_id == client_id,
                                   Deployment.deployment_id == deployment_id)))
