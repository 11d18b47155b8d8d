"""The sending adapter: `MessageSender` over botbuilder's `CloudAdapter.continue_conversation`.

Connector errors become `DeliveryError`s of a `FailureKind` (`bots.failures`), so delivery
logic never sees a botbuilder type or a Teams error code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationReference,
    Mention,
)

from bots.failures import failure_of
from bots.serializer import message_activity
from common.literal import shown
from common.wire import ActivityJson, ConversationReferenceJson
from notifier.delivery.budget import fit_card, fit_text
from notifier.delivery.cards import CARD_CONTENT_TYPE, NAME_LIMIT


def within_budget(message: Activity) -> Activity:
    """The message's text and cards cut to the size budget (`notifier.delivery.budget`): the
    last check before anything goes to the connector (proactive sends and in-turn replies)."""
    if message.text:
        message.text = fit_text(message.text)
    for attachment in message.attachments or []:
        if attachment.content_type == CARD_CONTENT_TYPE and isinstance(attachment.content, dict):
            attachment.content = fit_card(attachment.content)
    return message


def with_mentions(activity: ActivityJson) -> Activity:
    """The activity, its plain `mentions` ({"id": AAD object id, "name"}) made Teams mention
    entities, each name written `<at>name</at>` before the text. A name is a display name from
    Teams: made literal (`common.literal`), so it cannot close the tag or add markup."""
    plain = activity.copy()
    mentions = plain.pop("mentions", None) or []
    message = message_activity(plain)
    if mentions:
        names = [shown(m["name"], NAME_LIMIT) for m in mentions]
        tags = [f"<at>{name}</at>" for name in names]
        message.text = " ".join(tags) + " " + (message.text or "")
        message.entities = [*(message.entities or []), *(
            Mention(mentioned=ChannelAccount(id=m["id"], name=name), text=tag, type="mention")
            for m, name, tag in zip(mentions, names, tags, strict=True))]
    return within_budget(message)


class BotFrameworkSender:
    def __init__(self, adapter: CloudAdapter, app_id: str) -> None:
        self._adapter = adapter
        self._app_id = app_id

    async def post(self, reference: ConversationReferenceJson, activity: ActivityJson) -> str:
        sent: list[str] = []

        async def send(turn_context: TurnContext) -> None:
            response = await turn_context.send_activity(with_mentions(activity))
            sent.append(response.id if response and response.id else "")

        await self._continue(reference, send)
        return sent[0] if sent else ""

    async def update(self, reference: ConversationReferenceJson, activity_id: str,
                     activity: ActivityJson) -> None:
        async def update(turn_context: TurnContext) -> None:
            replacement = within_budget(message_activity(activity))
            replacement.id = activity_id
            await turn_context.update_activity(replacement)

        await self._continue(reference, update, updating=True)

    async def _continue(self, reference: ConversationReferenceJson,
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
