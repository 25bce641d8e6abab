"""The Slack app: `create_app()` builds the Bolt App; `asgi_app()` serves it over HTTP.

Nothing happens at import time. The slash command's reply is the body of its ack
when it is ready within `ACK_REPLY_BUDGET_SECONDS` (one HTTP round trip), else the ack
is empty and the reply follows through `response_url` (`bot.listeners.common.answer_in_ack`;
over HTTP the answer runs on the dispatching thread and `asgi_app` keeps the budget).
Every other listener acknowledges at once and works afterwards on a thread pool
(`ack_then_work`): Slack gets its 200 within milliseconds and the reply follows through
`response_url` or the Web API. One error handler decides
what the user reads: a `UserError` carries its own words; anything else is a bug,
logged with its traceback, and the user gets a short, honest reply.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.error import BoltUnhandledRequestError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config import Settings
from bot.listeners import common, register
from bot.listeners.common import AckDeadline, describe, report_error, work_after_ack
from bot.listeners.deps import Deps, Registry
from bot.slack_client import MissingSecret, make_client
from storage.store import Store

log = logging.getLogger(__name__)
LISTENER_THREADS = 32
_answering: set[asyncio.Future] = set()  # commands answered past their ack (asyncio keeps weak refs)
AUTH_RETRY_SECONDS = 60.0


def require_secrets(settings: Settings, *names: str) -> None:
    """A clear startup error naming every secret that is missing from the environment."""
    env = {"bot_token": "SLACK_BOT_TOKEN (xoxb-…)", "signing_secret": "SLACK_SIGNING_SECRET",
           "app_token": "SLACK_APP_TOKEN (xapp-…, Socket Mode)"}
    missing = [env[n] for n in names if getattr(settings.secrets, f"slack_{n}") is None]
    if missing:
        raise MissingSecret("missing from the environment: " + ", ".join(missing)
                            + ". See `outcomes manifest` and the README's Slack setup.")


class _Authorizer:
    """Single-workspace authorization that never makes a request wait on the Web API.

    auth.test (for the bot's user id, so Bolt can ignore the bot's own events) runs
    in the background on first use and again later if it failed; requests are
    served meanwhile with the token alone.
    """

    def __init__(self, client: WebClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._known: dict[str, Any] = {}
        self._tried = -AUTH_RETRY_SECONDS

    def _auth_test(self) -> None:
        try:
            quick = WebClient(token=self._client.token, base_url=self._client.base_url, timeout=5,
                              retry_handlers=[])
            resp = quick.auth_test()
            with self._lock:
                self._known = {"bot_user_id": resp.get("user_id"), "bot_id": resp.get("bot_id")}
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("auth.test failed (%s); serving without the bot user id for now", exc)

    def result(self, enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        with self._lock:
            known = dict(self._known)
            start = not known and time.monotonic() - self._tried >= AUTH_RETRY_SECONDS
            if start:
                self._tried = time.monotonic()
        if start:
            threading.Thread(target=self._auth_test, name="outcomes-auth-test", daemon=True).start()
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id,
                               bot_token=self._client.token, bot_user_id=known.get("bot_user_id"),
                               bot_id=known.get("bot_id"))


def _authorize_function(authorizer: _Authorizer) -> Any:
    # Bolt passes arguments by the parameter names of a plain function.
    def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        return authorizer.result(enterprise_id, team_id)

    return authorize


def create_app(settings: Settings, store: Store, client: WebClient | None = None, *,
               socket_mode: bool = False, signing_secret: str | None = None) -> App:
    """The Bolt App with every listener, the team check and the error handler.

    HTTP mode needs SLACK_SIGNING_SECRET (requests are verified; bad ones get 401);
    Socket Mode does not. The WebClient defaults to `make_client(settings)`:
    SLACK_API_URL with slack_sdk's retry handlers, timeouts included (a reply
    that arrives twice beats one that never arrives).
    """
    if client is None:
        require_secrets(settings, "bot_token")
        client = make_client(settings, retry_timeouts=True)
    secret = signing_secret or (settings.secrets.slack_signing_secret.get_secret_value()
                                if settings.secrets.slack_signing_secret else None)
    if not socket_mode and not secret:
        require_secrets(settings, "signing_secret")
    # The token lives in the authorizer; Bolt builds each request's client from this one
    # (same SLACK_API_URL, timeout and retry handlers) with the authorized token.
    pool = ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="outcomes-work")
    tokenless = WebClient(base_url=client.base_url, timeout=client.timeout,
                          retry_handlers=list(client.retry_handlers or []), logger=client.logger)
    app = App(
        client=tokenless,
        signing_secret=secret or "socket-mode-has-no-signatures",
        request_verification_enabled=not socket_mode,
        authorize=_authorize_function(_Authorizer(client)),
        # Listeners hand their work to `pool` (bot.listeners.common: the slash command waits
        # for it up to a budget and answers in the ack, the others ack at once); with this
        # flag Bolt answers Slack as soon as the listener returns.
        process_before_response=True,
        listener_executor=pool,
        # Unhandled requests (events we don't subscribe to, buttons of old messages) reach the
        # error handler, which answers 200: Slack would retry a 404 event delivery.
        raise_error_for_unhandled_request=True,
        logger=logging.getLogger("outcomes.bolt"),
    )
    deps = Deps(settings=settings, store=store, pool=pool)
    _team_check(app, settings)
    register(app, deps)
    _error_handler(app)
    app._outcomes_registry = deps.registry  # type: ignore[attr-defined]
    return app


def _answered_late(task: asyncio.Future) -> None:
    _answering.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("a command answered past its ack failed", exc_info=task.exception())


def registry_of(app: App) -> Registry:
    return app._outcomes_registry  # type: ignore[attr-defined,no-any-return]


def _team_check(app: App, settings: Settings) -> None:
    allowed = set(settings.slack.allowed_team_ids)
    if not allowed:
        return

    @app.middleware
    def only_allowed_teams(body: dict[str, Any], context: Any, next: Any) -> BoltResponse | None:
        team = context.team_id or (body.get("team") or {}).get("id") or body.get("team_id")
        if team in allowed:
            return next()
        log.warning("request from workspace %s refused (not in slack.allowed_team_ids)", team)
        text = "Outcomes is not enabled for this workspace."
        return BoltResponse(status=200, body=text if body.get("command") else "")


def _error_handler(app: App) -> None:
    """Errors raised in middleware or while acknowledging end up here; the work reports its
    own (see `ack_then_work`, `answer_in_ack`). All use `error_reply`."""

    @app.error
    def on_error(error: Exception, body: dict[str, Any], respond: Any) -> BoltResponse | None:
        if isinstance(error, BoltUnhandledRequestError):
            log.debug("unhandled request: %s", describe(body))
            return BoltResponse(status=200, body="")
        report_error(error, body, respond if body.get("response_url") else None)
        return None


# -- HTTP -------------------------------------------------------------------------------------


def asgi_app(bolt: App, store: Store) -> Any:
    """Starlette: POST /slack/events (commands, events, interactivity) and GET /healthz.

    Bolt's `dispatch` is synchronous; it runs in Starlette's thread pool so
    concurrent requests are served side by side and the event loop never blocks. The
    work an `ack_then_work` listener promised starts once the ack is sent
    (`work_after_ack`), or failed to. A slash command is answered on the dispatching
    thread itself; the ack waits for it up to the budget, then goes out empty while the
    answer goes on and follows through response_url (`command`, `AckDeadline`).
    """
    from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    def dispatch(bolt_request: Any, deadline: AckDeadline | None = None) -> tuple[Any, list]:
        with work_after_ack(deadline) as jobs:
            return bolt.dispatch(bolt_request), jobs

    class AckThenWork(Response):
        def __init__(self, ack: Response, jobs: list) -> None:
            self.ack, self.jobs = ack, jobs

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            try:
                await self.ack(scope, receive, send)
            finally:
                for start in self.jobs:
                    start()

    async def command(bolt_request: Any) -> Response:
        """A slash command: its answer runs on the dispatching thread (`answer_in_ack`);
        the ack waits for it up to ACK_REPLY_BUDGET_SECONDS, then goes out empty and the
        answer follows through response_url (`AckDeadline`)."""
        loop = asyncio.get_running_loop()
        ack: asyncio.Future = loop.create_future()  # the dispatch, or None: ack empty now

        def settle(result: Any) -> None:
            if not ack.done():
                ack.set_result(result)

        deadline = AckDeadline(lambda: loop.call_soon_threadsafe(settle, None))
        answered = asyncio.ensure_future(run_in_threadpool(dispatch, bolt_request, deadline))
        answered.add_done_callback(settle)
        budget = loop.call_later(common.ACK_REPLY_BUDGET_SECONDS, deadline.expire)
        try:
            done = await ack
        finally:
            budget.cancel()
        if done is None:  # the answer follows through response_url when it is ready
            _answering.add(answered)
            answered.add_done_callback(_answered_late)
            return to_starlette_response(BoltResponse(status=200, body=""))
        bolt_response, jobs = done.result()
        response = to_starlette_response(bolt_response)
        return AckThenWork(response, jobs) if jobs else response

    async def events(request: Request) -> Response:
        body = await request.body()
        bolt_request = to_bolt_request(request, body)
        if bolt_request.body.get("command"):
            return await command(bolt_request)
        bolt_response, jobs = await run_in_threadpool(dispatch, bolt_request)
        ack = to_starlette_response(bolt_response)
        return AckThenWork(ack, jobs) if jobs else ack

    async def healthz(request: Request) -> Response:
        def check() -> dict[str, Any]:
            return {"ok": True, "scored_as_of": store.scalar("SELECT max(as_of) FROM scores")}

        try:
            return JSONResponse(await run_in_threadpool(check))
        except sqlite3.Error as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=503)

    return Starlette(routes=[Route("/slack/events", events, methods=["POST"]),
                             Route("/healthz", healthz, methods=["GET"])])


_TOKEN_RE = re.compile(r"xox[abpr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+")


class RedactTokens(logging.Filter):
    """Belt and braces: no Slack token ever reaches a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _TOKEN_RE.search(message):
            record.msg, record.args = _TOKEN_RE.sub("xox…(redacted)", message), ()
        return True


def install_log_redaction() -> None:
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactTokens) for f in handler.filters):
            handler.addFilter(RedactTokens())
