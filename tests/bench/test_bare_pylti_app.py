"""The side-by-side benchmark's baseline is a real, validating LTI tool: the bare pylti1p3
app completes a whole launch through the Moodle stand-in with the JWKS cached, and refuses
an id_token signed with a foreign key. Also the CPU reading the benchmark relies on."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bench.bare_pylti_app import create_app
from bench.bench_side_by_side import server_cpu_seconds
from lti_tool.demo.keys import RsaKey
from lti_tool.demo.server import serve_in_thread
from tests.conftest import free_port
from tests.support.browser import FormBrowser, launch


@pytest.fixture
def bare_tool(moodle: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    port = free_port()
    base = f"http://localhost:{port}"
    registration = moodle.register_tool(
        initiate_login_uri=base + "/lti/login", redirect_uris=[base + "/lti/launch"],
        jwks_uri=base + "/lti/jwks", target_link_uri=base + "/lti/launch",
        name="Bare pylti1p3")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "bare.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    for name, value in {"BARE_LTI_ISSUER": moodle.issuer,
                        "BARE_LTI_CLIENT_ID": registration.client_id,
                        "BARE_LTI_DEPLOYMENT_ID": registration.deployment_id,
                        "BARE_LTI_PRIVATE_KEY_FILE": str(key_file),
                        "BARE_LTI_CACHE_DIR": str(tmp_path / "cache")}.items():
        monkeypatch.setenv(name, value)
    handle = serve_in_thread(create_app(), "127.0.0.1", port)
    yield registration
    handle.shutdown()


def test_bare_app_launches_a_learner_with_the_platform_keys_cached(moodle: Any,
                                                                   bare_tool: Any) -> None:
    for _ in range(2):
        with FormBrowser() as browser:
            page = launch(browser, moodle, "learner1", client_id=bare_tool.client_id)
        assert page.status_code == 200, page.text
        assert "Welcome, Lena Learner." in page.text and "Sample Tool Activity" in page.text
    assert moodle.jwks_fetch_count == 1


def test_bare_app_refuses_an_id_token_signed_with_another_key(moodle: Any,
                                                             bare_tool: Any) -> None:
    moodle.sign_with_key(RsaKey.generate())
    with FormBrowser() as browser:
        page = launch(browser, moodle, "learner1", client_id=bare_tool.client_id)
    assert page.status_code == 400 and "LTI launch failed" in page.text
    assert "Welcome" not in page.text


def test_server_cpu_seconds_counts_the_process_cpu() -> None:
    before = server_cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    assert server_cpu_seconds(os.getpid()) - before >= 0.2
