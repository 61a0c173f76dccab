"""Serve a WSGI app (the tool or the Moodle stand-in) on a thread, for tests and the demo."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without the per-request access log lines."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class DeferredApp:
    """A WSGI app whose target is set after the server is bound (to learn the port first)."""

    def __init__(self) -> None:
        self.app: WsgiApp | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"not ready"]
        return self.app(environ, start_response)


@dataclass
class ServerHandle:
    """A running server: ``url`` ("http://host:port"), ``shutdown()`` stops it and waits."""

    server: BaseWSGIServer
    thread: threading.Thread
    host: str
    port: int
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def shutdown(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0, *,
                    quiet: bool = True) -> ServerHandle:
    """Serve ``app`` with werkzeug's threaded server in a daemon thread.

    ``port=0`` picks a free port (read it from the handle). Returns once the socket is bound,
    so requests may be sent at once. The handle's ``url`` uses ``host`` as given.
    """
    server = make_server(host, port, app, threaded=True,
                         request_handler=QuietRequestHandler if quiet else None)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name=f"wsgi-{host}:{server.port}", daemon=True)
    thread.start()
    return ServerHandle(server=server, thread=thread, host=host, port=int(server.port))
