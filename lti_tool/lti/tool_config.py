"""pylti1p3's tool configuration, read from the database instead of a JSON file."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pylti1p3.deployment import Deployment as LtiDeployment
from pylti1p3.registration import Registration
from pylti1p3.tool_config.abstract import ToolConfAbstract

from lti_tool.extensions import db
from lti_tool.platforms.cache import row_cache
from lti_tool.platforms.models import Deployment, Platform


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
