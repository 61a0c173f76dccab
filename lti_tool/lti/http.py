"""Outbound HTTP to platforms, with timeouts, a size limit and, outside local testing,
no plain http and no private or loopback addresses (so a pasted URL cannot reach inside
the tool's own network).

A host name is resolved once: the addresses are checked and the connection goes to one of
those very addresses (the name still goes in the ``Host`` header and, for https, in SNI and
the certificate check). Letting the HTTP client resolve the name again would let a DNS
server answer a public address to the check and a private one to the connection.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlencode, urlsplit

import certifi
import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

USER_AGENT = "AIU-LTI-Tool/0.1"

Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, in the order the system gives them."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


# The resolver every outbound call uses (tests put a stub here: there is no DNS offline).
resolver: Resolver = system_resolver


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


def _parts(url: str, *, allow_insecure: bool) -> SplitResult:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL(f"{url!r} is not a web address")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise UnsafeURL(f"{url!r} is not a web address") from exc
    if not allow_insecure and parts.scheme != "https":
        raise UnsafeURL(f"{url} does not use https")
    return parts


def _resolve(parts: SplitResult, *, allow_insecure: bool) -> list[str]:
    """The addresses to connect to, each checked (unless ``allow_insecure``)."""
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolver(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeURL(f"{host} could not be found") from exc
    if not addresses:
        raise UnsafeURL(f"{host} could not be found")
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError as exc:
            raise UnsafeURL(f"{host} could not be found") from exc
        if not allow_insecure and not ip.is_global:
            raise UnsafeURL(f"{host} is a private or local address")
    return addresses


def check_url(url: str, *, allow_insecure: bool) -> None:
    """Refuse URLs the tool must not call: not http(s), plain http, or a host that
    resolves to a private, loopback, link-local or reserved address (unless
    ``allow_insecure``, which also skips the lookup)."""
    parts = _parts(url, allow_insecure=allow_insecure)
    if not allow_insecure:
        _resolve(parts, allow_insecure=False)


def _body(headers: dict[str, str], data: Any, json_body: Any) -> bytes | None:
    if json_body is not None:
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(json_body).encode("utf-8")
    if data is None:
        return None
    if isinstance(data, dict):
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        return urlencode(data).encode("ascii")
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _pool(parts: SplitResult, address: str, timeout: float) -> urllib3.HTTPConnectionPool:
    port = parts.port or (443 if parts.scheme == "https" else 80)
    options: dict[str, Any] = {"timeout": urllib3.Timeout(connect=timeout, read=timeout),
                               "retries": False, "maxsize": 1}
    if parts.scheme == "https":
        name = parts.hostname or ""
        return urllib3.HTTPSConnectionPool(
            address, port, server_hostname=name, assert_hostname=name,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("REQUESTS_CA_BUNDLE") or certifi.where(), **options)
    return urllib3.HTTPConnectionPool(address, port, **options)


def call(method: str, url: str, *, allow_insecure: bool, timeout: float, max_bytes: int,
         headers: dict[str, str] | None = None, data: Any = None,
         json_body: Any = None) -> Reply:
    """Make one request (no redirects followed) and read at most ``max_bytes`` of the answer.

    Connects only to the addresses the host name resolved to when it was checked."""
    parts = _parts(url, allow_insecure=allow_insecure)
    addresses = _resolve(parts, allow_insecure=allow_insecure)
    where = parts.netloc.rsplit("@", 1)[-1]
    all_headers = {"User-Agent": USER_AGENT, "Host": where, **(headers or {})}
    body = _body(all_headers, data, json_body)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    resp = None
    for address in addresses:
        pool = _pool(parts, address, timeout)
        try:
            resp = pool.urlopen(method, target, body=body, headers=all_headers,
                                redirect=False, preload_content=False,
                                assert_same_host=False)
            break
        except NewConnectionError as exc:
            pool.close()
            if address == addresses[-1]:
                raise FetchFailed(f"{where} could not be reached") from exc
        except Urllib3Timeout as exc:
            pool.close()
            raise FetchFailed(f"{where} did not answer in time") from exc
        except (HTTPError, OSError) as exc:
            pool.close()
            raise FetchFailed(f"{where} could not be reached") from exc
    if resp is None:  # every address failed: the loop raised for the last one
        raise FetchFailed(f"{where} could not be reached")
    try:
        content = resp.read(max_bytes + 1, decode_content=True)
    except (HTTPError, OSError) as exc:
        raise FetchFailed(f"the answer from {where} was cut off") from exc
    finally:
        resp.release_conn()
        pool.close()
    if len(content) > max_bytes:
        raise FetchFailed(f"the answer from {where} was too large")
    return Reply(resp.status, resp.headers.get("Content-Type", ""), content,
                 dict(resp.headers))
