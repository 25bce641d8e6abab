"""What every local fake API shares: an HTTP server on 127.0.0.1 in a thread, started and
stopped by `with Fake() as fake:` (or start()/stop()), whose requests go to `_handle`."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 drops connections under concurrent tests (a dropped SYN
    # costs the client a 1 s retransmit).
    request_queue_size = 128
    daemon_threads = True


class LocalHTTPFake:
    """Subclasses define `_handle(request: BaseHTTPRequestHandler)` and the HTTP `methods`."""

    methods: tuple[str, ...] = ("GET", "POST")
    _server: ThreadingHTTPServer | None = None

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def start(self, port: int = 0) -> Any:
        fake = self

        def handle(request: BaseHTTPRequestHandler) -> None:
            fake._handle(request)

        attrs: dict[str, Any] = {"protocol_version": "HTTP/1.1",
                                 "log_message": lambda request, *args: None}  # quiet tests
        attrs.update({f"do_{method}": handle for method in self.methods})
        self._server = _Server(("127.0.0.1", port), type("Handler", (BaseHTTPRequestHandler,), attrs))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"
