"""The card's floor: a Bolt app whose `/outcome` handler only acks, served like `outcomes serve`.

    .venv/bin/python bench/noop_bolt.py --port 8123 --secret S --api-url http://127.0.0.1:N/api/

The same stack as `outcomes serve` (slack_bolt App, request signature checks, the
Starlette app of bot.app.asgi_app in uvicorn, same log settings), with nothing behind
the handler. bench/bench_lookup.py times its HTTP 200 (the ack).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--command", default="/outcome")
    args = parser.parse_args()

    import uvicorn
    from slack_bolt import App
    from slack_bolt.authorization import AuthorizeResult
    from slack_sdk import WebClient

    from bot.app import asgi_app
    from storage.store import Store

    def authorize(**_: object) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=None, team_id="T0FAKE", bot_token="xoxb-bench",
                               bot_user_id="UBOT", bot_id="BBOT")

    app = App(client=WebClient(base_url=args.api_url), signing_secret=args.secret,
              authorize=authorize, process_before_response=True)

    @app.command(args.command)
    def noop(ack) -> None:  # Bolt passes ack by name
        ack()

    with tempfile.TemporaryDirectory(prefix="bench-noop-") as tmp:
        store = Store(Path(tmp) / "noop.db")  # only for /healthz
        uvicorn.run(asgi_app(app, store), host="127.0.0.1", port=args.port, log_level="warning",
                    access_log=False, timeout_graceful_shutdown=5)


if __name__ == "__main__":
    main()
