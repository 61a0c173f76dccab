from __future__ import annotations

import pytest

from lti_tool.lti.http import UnsafeURL, check_url


@pytest.mark.parametrize("url", [
    "http://moodle.example.ac.uk/x",  # plain http
    "https://127.0.0.1/x",  # loopback
    "https://localhost/x",
    "https://10.1.2.3/x",  # private ranges
    "https://192.168.1.1/x",
    "https://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
    "https://[::1]/x",
    "ftp://moodle.example.ac.uk/x",
    "not a url",
])
def test_refused_without_insecure_mode(url: str) -> None:
    with pytest.raises(UnsafeURL):
        check_url(url, allow_insecure=False)


def test_loopback_http_allowed_in_insecure_mode() -> None:
    check_url("http://127.0.0.1:8081/mod/lti/openid-configuration.php", allow_insecure=True)


def test_public_https_allowed() -> None:
    check_url("https://93.184.215.14/x", allow_insecure=False)
