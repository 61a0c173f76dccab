"""Outbound HTTP to platforms, with timeouts, a size limit and, outside local testing,
no plain http and no private or loopback addresses (so a pasted URL cannot reach inside
the tool's own network)."""

from __future__ import annotations

import ipaddress
import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

USER_AGENT = "AIU-LTI-Tool/0.1"


class UnsafeURL(ValueError):
    """The URL is not one the tool will call."""


class FetchFailed(RuntimeError):
    """The request failed or the answer was unusable; the message says how."""


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise FetchFailed("the answer was not JSON") from exc

    def text(self, limit: int = 2000) -> str:
        return self.body.decode("utf-8", errors="replace")[:limit]


def check_url(url: str, *, allow_insecure: bool) -> None:
    """Refuse URLs the tool must not call: not http(s), plain http, or a host that
    resolves to a private, loopback, link-local or reserved address (unless
    ``allow_insecure``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL(f"{url!r} is not a web address")
    if allow_insecure:
        return
    if parts.scheme != "https":
        raise UnsafeURL(f"{url} does not use https")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise UnsafeURL(f"{parts.hostname} could not be found") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise UnsafeURL(f"{parts.hostname} is a private or local address")


def call(method: str, url: str, *, allow_insecure: bool, timeout: float, max_bytes: int,
         headers: dict[str, str] | None = None, data: Any = None, json_body: Any = None,
         session: requests.Session | None = None) -> Reply:
    """Make one request (no redirects followed) and read at most ``max_bytes`` of the answer."""
    check_url(url, allow_insecure=allow_insecure)
    sender = session or requests
    all_headers = {"User-Agent": USER_AGENT, **(headers or {})}
    try:
        resp = sender.request(method, url, headers=all_headers, data=data, json=json_body,
                              timeout=timeout, stream=True, allow_redirects=False)
    except requests.Timeout as exc:
        raise FetchFailed(f"{urlsplit(url).netloc} did not answer in time") from exc
    except requests.RequestException as exc:
        raise FetchFailed(f"{urlsplit(url).netloc} could not be reached") from exc
    try:
        body = resp.raw.read(max_bytes + 1, decode_content=True)
    except (requests.RequestException, OSError) as exc:
        raise FetchFailed(f"the answer from {urlsplit(url).netloc} was cut off") from exc
    finally:
        resp.close()
    if len(body) > max_bytes:
        raise FetchFailed(f"the answer from {urlsplit(url).netloc} was too large")
    return Reply(resp.status_code, resp.headers.get("Content-Type", ""), body,
                 dict(resp.headers))
