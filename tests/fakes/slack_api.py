"""A fake Slack Web API on 127.0.0.1 that answers like Slack and records every call.

Point a `WebClient(base_url=fake.api_url)` (or the app's SLACK_API_URL) at it.
It answers `{"ok": true, ...}` per method, `{"ok": false, "error": ...}` for
what Slack would refuse (bad token, unknown user, invalid blocks), and can be
told to fail: `fake.fail("chat.postMessage", status=429, retry_after=1)` makes
the next call answer 429 with a Retry-After header; `status=500` a server error;
`delay=5` a slow answer (a timeout for a client with a shorter one). It also
serves the `response_url`s and file upload URLs it hands out, so Bolt's
`respond()` and `files_upload_v2` land here too.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.fakes.local_http import LocalHTTPFake

VALID_TOKEN_PREFIX = "xoxb-"
APP_TOKEN_PREFIX = "xapp-"
MAX_BLOCKS = 50


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: float


@dataclass
class Failure:
    status: int = 429
    error: str = "ratelimited"
    retry_after: int | None = 1
    delay: float = 0.0
    times: int = 1
    refuse: bool = False    # HTTP 200 with {"ok": false, "error": error} (e.g. expired_trigger_id)


@dataclass
class FakeSlack(LocalHTTPFake):
    """Start with `with FakeSlack() as fake:` (or start()/stop())."""

    users: dict[str, str] = field(default_factory=dict)  # email -> user id
    team_id: str = "T0FAKE"
    bot_user_id: str = "UBOT"
    calls: list[Call] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)  # posts to response_url
    uploads: dict[str, bytes] = field(default_factory=dict)
    posted: list[dict[str, Any]] = field(default_factory=list)  # messages chat.postMessage delivered
    history_scope: bool = True  # False: conversations.history answers missing_scope
    # A tests.fakes.socket_mode.SocketModeServer: apps.connections.open hands out its URL.
    socket_mode: Any = None
    views: dict[str, dict[str, Any]] = field(default_factory=dict)   # view id -> view opened

    def __post_init__(self) -> None:
        self._failures: dict[str, deque[Failure]] = {}
        self._lock = threading.Lock()
        self._ts = itertools.count(1)

    @property
    def api_url(self) -> str:
        """What SLACK_API_URL / WebClient(base_url=...) should be."""
        return self.base_url + "/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.base_url}/response/{name}"

    # -- test controls -------------------------------------------------------------------

    def fail(self, method: str, status: int = 429, error: str | None = None,
             retry_after: int | None = 1, delay: float = 0.0, times: int = 1) -> None:
        """Make the next `times` calls of `method` fail (or be slow, with delay). With
        status=200 and an `error`, the call answers `{"ok": false, "error": error}`."""
        default = {429: "ratelimited"}.get(status, "internal_error" if status >= 500 else "fatal_error")
        with self._lock:
            self._failures.setdefault(method, deque()).append(
                Failure(status, error or default, retry_after if status == 429 else None, delay, times,
                        refuse=status == 200 and error is not None)
            )

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.responses.clear()
            self.posted.clear()
            self._failures.clear()

    # -- HTTP ------------------------------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        url = urlparse(req.path)
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in req.headers.items()}
        if url.path.startswith("/response/"):
            payload = json.loads(body or b"{}")
            with self._lock:
                self.responses.append({"url": url.path, **payload})
            return self._send(req, 200, b"ok", "text/plain")
        if url.path.startswith("/upload/"):
            with self._lock:
                self.uploads[url.path.rsplit("/", 1)[-1]] = body
            return self._send(req, 200, b"OK - %d" % len(body), "text/plain")
        if not url.path.startswith("/api/"):
            return self._send(req, 404, b"not found", "text/plain")
        method = url.path[len("/api/"):]
        params = self._params(headers, body, url.query)
        with self._lock:
            self.calls.append(Call(method, params, headers, time.time()))
            failure = self._take_failure(method)
        if failure is not None:
            if failure.delay:
                time.sleep(failure.delay)
            if failure.status != 200:
                extra = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
                body_out = json.dumps({"ok": False, "error": failure.error}).encode()
                return self._send(req, failure.status, body_out, "application/json", extra)
            if failure.refuse:
                return self._json(req, {"ok": False, "error": failure.error})
        token = headers.get("authorization", "").removeprefix("Bearer ").strip() or params.get("token", "")
        # apps.connections.open takes the app-level token only; every other method a bot token.
        wanted = APP_TOKEN_PREFIX if method == "apps.connections.open" else VALID_TOKEN_PREFIX
        if not str(token).startswith(wanted):
            known = str(token).startswith((APP_TOKEN_PREFIX, VALID_TOKEN_PREFIX))
            return self._json(req, {"ok": False,
                                    "error": "not_allowed_token_type" if known else "invalid_auth"})
        answer = getattr(self, "_m_" + method.replace(".", "_"), None)
        if answer is None:
            return self._json(req, {"ok": False, "error": "unknown_method"})
        return self._json(req, answer(params))

    def _take_failure(self, method: str) -> Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.popleft()
        return failure

    @staticmethod
    def _params(headers: dict[str, str], body: bytes, query: str) -> dict[str, Any]:
        params: dict[str, Any] = {k: v[0] for k, v in parse_qs(query).items()}
        ctype = headers.get("content-type", "")
        if "application/json" in ctype and body:
            params.update(json.loads(body))
        elif body:
            params.update({k: v[0] for k, v in parse_qs(body.decode()).items()})
        for key in ("blocks", "attachments", "view", "files", "metadata"):
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    pass
        return params

    def _json(self, req: BaseHTTPRequestHandler, data: dict[str, Any]) -> None:
        self._send(req, 200, json.dumps(data).encode(), "application/json")

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str,
              extra: dict[str, str] | None = None) -> None:
        req.send_response(status)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(body)

    # -- methods -------------------------------------------------------------------------------

    def _next_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    @staticmethod
    def _check_message(params: dict[str, Any]) -> dict[str, Any] | None:
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        blocks = params.get("blocks")
        if not params.get("text") and not blocks:
            return {"ok": False, "error": "no_text"}
        if blocks is not None and (not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS):
            return {"ok": False, "error": "invalid_blocks", "errors": ["must be at most 50 blocks"]}
        return None

    def _m_apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.socket_mode is None:
            return {"ok": False, "error": "socket_mode_disabled"}   # the app's setting is off
        return {"ok": True, "url": self.socket_mode.url()}

    def _m_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "team_id": self.team_id, "user_id": self.bot_user_id,
                "bot_id": "BFAKE", "url": "https://fake.slack.test/"}

    def _m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        refused = self._check_message(params)
        if refused:
            return refused
        message = {"type": "message", "channel": params["channel"], "ts": self._next_ts(),
                   "text": params.get("text"), "blocks": params.get("blocks"),
                   "user": self.bot_user_id}
        if params.get("metadata"):
            message["metadata"] = params["metadata"]
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        with self._lock:
            self.posted.append(message)
        return {"ok": True, "channel": params["channel"], "ts": message["ts"],
                "message": {"text": params.get("text"), "user": self.bot_user_id}}

    def posted_to(self, channel: str) -> list[dict[str, Any]]:
        """Messages chat.postMessage delivered to `channel`, oldest first."""
        with self._lock:
            return [m for m in self.posted if m["channel"] == channel]

    def _m_conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        if not self.history_scope:
            return {"ok": False, "error": "missing_scope", "needed": "im:history"}
        channel, oldest = str(params.get("channel", "")), float(params.get("oldest") or 0)
        with_meta = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        found = [dict(m) for m in self.posted_to(channel) if float(m["ts"]) >= oldest]
        for m in found:
            m.pop("channel")
            if not with_meta:
                m.pop("metadata", None)
        limit = int(params.get("limit") or 100)
        return {"ok": True, "messages": list(reversed(found))[:limit], "has_more": len(found) > limit}

    def _m_chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._check_message(params) or {"ok": True, "message_ts": self._next_ts()}

    def _m_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._check_message(params) or {"ok": True, "channel": params["channel"], "ts": params.get("ts")}

    def _m_conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = str(params.get("users", ""))
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        return {"ok": True, "channel": {"id": "D" + users.split(",")[0].lstrip("UW")}}

    def _m_users_lookupByEmail(self, params: dict[str, Any]) -> dict[str, Any]:
        email = str(params.get("email", "")).lower()
        if email not in self.users:
            return {"ok": False, "error": "users_not_found"}
        return {"ok": True, "user": {"id": self.users[email], "profile": {"email": email}}}

    def _m_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = params.get("user")
        emails = {v: k for k, v in self.users.items()}
        return {"ok": True, "user": {"id": user, "tz": "UTC", "profile": {"email": emails.get(user)}}}

    def _m_reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    def _m_views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        """A modal: needs the click's trigger_id and a view Slack accepts (slack_sdk.models)."""
        from slack_sdk.errors import SlackObjectFormationError
        from slack_sdk.models.views import View

        if not params.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = params.get("view")
        if not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        try:
            View(**view).validate_json()
        except (SlackObjectFormationError, TypeError) as exc:
            return {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": [str(exc)]}}
        view_id = "V" + str(next(self._ts))
        with self._lock:
            self.views[view_id] = view
        return {"ok": True, "view": {"id": view_id, **view}}

    def _m_views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "view": {"id": "V" + str(next(self._ts))}}

    def _m_files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ts):08d}"
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        files = params.get("files") or []
        return {"ok": True, "files": [{"id": f.get("id"), "title": f.get("title")} for f in files]}
