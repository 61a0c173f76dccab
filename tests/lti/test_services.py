"""Client assertions and service tokens, against the stand-in's token.php."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from lti_tool.extensions import db
from lti_tool.lti.exceptions import ServiceError
from lti_tool.lti.keys import KeyStore
from lti_tool.lti.registration import SCOPES
from lti_tool.lti.services import access_token
from lti_tool.platforms.models import Platform


def _platform() -> Platform:
    platform = db.session.scalar(sa.select(Platform))
    assert platform is not None
    return platform


def _token_requests(moodle: Any) -> list[Any]:
    return [r for r in moodle.requests_log if "token.php" in r.path]


def test_token_is_fetched_with_a_signed_assertion_and_cached(app: Flask, registered: Any,
                                                             moodle: Any) -> None:
    with app.app_context():
        token = access_token(_platform(), SCOPES)
        assert token
        assert access_token(_platform(), SCOPES) == token
    assert len(_token_requests(moodle)) == 1


def test_client_assertion_keeps_working_across_a_key_rotation(app: Flask, registered: Any,
                                                              moodle: Any,
                                                              keys_dir: Path) -> None:
    with app.app_context():
        assert access_token(_platform(), SCOPES[:1])
        KeyStore(keys_dir).rotate()
        # A new scope set is not cached: this assertion is signed with the new key, which
        # the platform has not seen; it refetches the tool's JWKS and accepts it.
        assert access_token(_platform(), SCOPES[1:2])


def test_refused_token_request_is_a_service_error(app: Flask, registered: Any,
                                                  moodle: Any) -> None:
    moodle.fail_next(1, status=400, body='{"error": "invalid_client"}', only="token")
    with app.app_context(), pytest.raises(ServiceError) as info:
        access_token(_platform(), SCOPES)
    assert "invalid_client" in info.value.message
