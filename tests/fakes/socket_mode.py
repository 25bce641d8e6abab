"""A fake Slack Socket Mode endpoint on 127.0.0.1: WebSocket (RFC 6455) and the envelope protocol.

How Slack does it: the app calls `apps.connections.open` with its app-level token
(`xapp-…`) and gets a `wss://` URL; it connects; Slack sends `{"type": "hello"}`,
then one envelope per request (`{"envelope_id", "type": "slash_commands" |
"interactive" | "events_api", "payload", "accepts_response_payload"}`), and the app
must answer each with `{"envelope_id": …}` (plus `"payload"`, the ack's body) within
3 seconds.

Here `FakeSlack(socket_mode=SocketModeServer())` hands out this server's
`ws://127.0.0.1:PORT/link/?ticket=…` from `apps.connections.open` (slack_sdk's
builtin client speaks plain WebSocket to any port but 443). The server speaks the
WebSocket protocol by hand with the standard library: the opening handshake, masked
client frames, pings answered with pongs, close. `send_envelope()` delivers a
request and `wait_ack()` returns the app's ack.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


@dataclass
class Connection:
    sock: socket.socket
    path: str
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send_text(self, text: str) -> None:
        self._send(TEXT, text.encode())

    def _send(self, opcode: int, data: bytes) -> None:
        head = bytes([0x80 | opcode])
        n = len(data)
        if n < 126:
            head += bytes([n])
        elif n < 1 << 16:
            head += bytes([126]) + struct.pack("!H", n)
        else:
            head += bytes([127]) + struct.pack("!Q", n)
        with self.lock:
            self.sock.sendall(head + data)   # server frames are never masked

    def read_frame(self) -> tuple[int, bytes]:
        b1, b2 = self._exactly(2)
        opcode, masked, n = b1 & 0x0F, b2 & 0x80, b2 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._exactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._exactly(8))[0]
        if not masked:
            raise ConnectionError("a client frame must be masked (RFC 6455 5.1)")
        key = self._exactly(4)
        data = bytes(c ^ key[i % 4] for i, c in enumerate(self._exactly(n)))
        return opcode, data

    def _exactly(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed")
            out += chunk
        return out


class SocketModeServer:
    """Start with `with SocketModeServer() as ws:`; `ws.url()` is what apps.connections.open returns."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.connections: list[Connection] = []
        self.received: list[dict[str, Any]] = []     # every JSON message from the app
        self.opened: list[str] = []                  # tickets handed out
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="fake-socket-mode", daemon=True)

    def __enter__(self) -> SocketModeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._closed = True
        for conn in self.connections:
            try:
                conn._send(CLOSE, struct.pack("!H", 1001))
                conn.sock.close()
            except OSError:
                pass
        # Closing a listening socket does not wake an accept() blocked on another thread
        # (Linux); shutting it down does, so the accept thread ends here instead of
        # outliving the test (a leftover thread makes a later fork copy a half-held state).
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def url(self) -> str:
        ticket = f"ticket-{next(self._ids)}"
        self.opened.append(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id=A0OUTCOMES"

    # -- what a test does ---------------------------------------------------------------

    def wait_connected(self, timeout: float = 30) -> Connection:
        with self._cond:
            if not self._cond.wait_for(lambda: self.connections, timeout):
                raise TimeoutError("the app did not connect")
            return self.connections[-1]

    def send_envelope(self, kind: str, payload: dict[str, Any], *,
                      accepts_response_payload: bool = True) -> str:
        envelope_id = f"env-{next(self._ids)}"
        self.wait_connected().send_text(json.dumps({
            "envelope_id": envelope_id, "type": kind, "payload": payload,
            "accepts_response_payload": accepts_response_payload, "retry_attempt": 0,
            "retry_reason": "",
        }))
        return envelope_id

    def wait_ack(self, envelope_id: str, timeout: float = 10) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((m for m in self.received if m.get("envelope_id") == envelope_id), None)

        with self._cond:
            if not self._cond.wait_for(lambda: found() is not None, timeout):
                raise TimeoutError(f"no ack for {envelope_id}")
            return found()  # type: ignore[return-value]

    # -- the server ---------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            conn = self._handshake(sock)
        except (ConnectionError, OSError, ValueError):
            sock.close()
            return
        conn.send_text(json.dumps({
            "type": "hello", "num_connections": 1,
            "debug_info": {"host": "fake-socket-mode", "approximate_connection_time": 3600},
            "connection_info": {"app_id": "A0OUTCOMES"},
        }))
        with self._cond:
            self.connections.append(conn)
            self._cond.notify_all()
        try:
            while True:
                opcode, data = conn.read_frame()
                if opcode == PING:
                    conn._send(PONG, data)
                elif opcode == CLOSE:
                    conn._send(CLOSE, data[:2])
                    return
                elif opcode == TEXT:
                    with self._cond:
                        self.received.append(json.loads(data))
                        self._cond.notify_all()
        except (ConnectionError, OSError):
            return
        finally:
            sock.close()

    def _handshake(self, sock: socket.socket) -> Connection:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            request += chunk
        lines = request.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, v in
                   (line.split(":", 1) for line in lines[1:] if ":" in line)}
        ticket = path.partition("ticket=")[2].partition("&")[0]
        if (method != "GET" or headers.get("upgrade", "").lower() != "websocket"
                or ticket not in self.opened):
            sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            raise ValueError("not a Socket Mode connection request")
        accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + GUID).encode()).digest())
        sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        return Connection(sock, path)


def wait_until(predicate, timeout: float = 10, every: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()
