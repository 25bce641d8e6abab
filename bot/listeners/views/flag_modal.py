"""The flag modal's `view_submission`: checked before the ack (errors show in the modal),
stored in the feedback table after it, and acknowledged in the flagged message's thread
(or, for a card only the user saw, in a reply only they see)."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot.listeners.common import report_error
from bot.listeners.deps import Deps
from bot.services import feedback as fbs
from messages import feedback as feedback_msg
from messages.actions import FLAG_MODAL

log = logging.getLogger(__name__)
CHOOSE_ONE = "Choose the Renewal Index or the Upsell Index you expect."


def register(app: App, deps: Deps) -> None:
    settings, store = deps.settings, deps.store
    deps.registry.action(FLAG_MODAL, {"chat:write"})   # interactivity (view submissions)

    def acknowledge(meta: dict[str, Any], user_id: str, flag: fbs.Flag, name: str,
                    client: WebClient) -> None:
        message = feedback_msg.flag_recorded(flag, name)
        channel, ts = meta.get("channel"), meta.get("ts")
        if channel and ts and not meta.get("ephemeral"):
            resp = client.chat_postMessage(channel=channel, thread_ts=ts, text=message.text,
                                           blocks=message.blocks)
            fbs.set_flag_thread(store, flag, resp["ts"])
        elif meta.get("response_url"):
            WebhookClient(meta["response_url"]).send(text=message.text, blocks=message.blocks,
                                                     response_type="ephemeral",
                                                     replace_original=False)
        elif channel:
            client.chat_postEphemeral(channel=channel, user=user_id, text=message.text,
                                      blocks=message.blocks)

    def store_flag(body: dict[str, Any], meta: dict[str, Any], values: tuple, client: WebClient) -> None:
        user_id = (body.get("user") or {}).get("id") or ""
        renewal, upsell, note = values
        try:
            result = fbs.flag_with_expectation(
                store, settings, channel=meta.get("channel") or "", ts=meta.get("ts") or "",
                user_id=user_id, account_id=meta["account_id"], renewal_index=renewal,
                upsell_index=upsell, note=note)
            name = result.accounts[0]["name"] if result.accounts else meta["account_id"]
            acknowledge(meta, user_id, result.flag, name, client)
        except Exception as exc:  # noqa: BLE001 - logged (a modal has closed: nowhere to show it)
            report_error(exc, body, None)

    def flag_submitted(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        view = body.get("view") or {}
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        values = feedback_msg.flag_modal_values(view, settings.for_messages)
        if not meta.get("account_id"):
            ack(response_action="errors", errors={"expected_renewal": "This form is out of date."})
            return
        if not (values[0] or values[1]):
            ack(response_action="errors", errors={"expected_renewal": CHOOSE_ONE})
            return
        ack()   # closes the modal; storing and the thread reply follow on the pool
        deps.pool.submit(store_flag, body, meta, values, client)

    app.view(FLAG_MODAL)(flag_submitted)
