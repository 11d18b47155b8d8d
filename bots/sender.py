"""The sending adapter: `MessageSender` over botbuilder's `CloudAdapter.continue_conversation`.

Connector errors become `DeliveryError`s of a `FailureKind` (`bots.failures`), so delivery
logic never sees a botbuilder type or a Teams error code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationReference,
    Mention,
)

from bots.failures import failure_of


def with_mentions(activity: dict[str, Any]) -> Activity:
    """The activity, its plain `mentions` ({"id": AAD object id, "name"}) made Teams mention
    entities, each name written `<at>name</at>` before the text."""
    plain = dict(activity)
    mentions = plain.pop("mentions", None) or []
    message = Activity().deserialize(plain)
    if mentions:
        tags = [f"<at>{m['name']}</at>" for m in mentions]
        message.text = " ".join(tags) + " " + (message.text or "")
        message.entities = [*(message.entities or []), *(
            Mention(mentioned=ChannelAccount(id=m["id"], name=m["name"]), text=tag,
                    type="mention")
            for m, tag in zip(mentions, tags, strict=True))]
    return message


class BotFrameworkSender:
    def __init__(self, adapter: CloudAdapter, app_id: str) -> None:
        self._adapter = adapter
        self._app_id = app_id

    async def post(self, reference: dict[str, Any], activity: dict[str, Any]) -> str:
        sent: list[str] = []

        async def send(turn_context: TurnContext) -> None:
            response = await turn_context.send_activity(with_mentions(activity))
            sent.append(response.id if response and response.id else "")

        await self._continue(reference, send)
        return sent[0] if sent else ""

    async def update(self, reference: dict[str, Any], activity_id: str,
                     activity: dict[str, Any]) -> None:
        async def update(turn_context: TurnContext) -> None:
            replacement = Activity().deserialize(activity)
            replacement.id = activity_id
            await turn_context.update_activity(replacement)

        await self._continue(reference, update, updating=True)

    async def _continue(self, reference: dict[str, Any],
                        callback: Callable[[TurnContext], Awaitable[None]],
                        updating: bool = False) -> None:
        try:
            await self._adapter.continue_conversation(
                ConversationReference().deserialize(reference), callback, self._app_id)
        except Exception as error:
            failure = failure_of(error, updating=updating)
            if failure is None:
                raise
            raise failure from None
