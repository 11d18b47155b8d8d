"""Everything botbuilder, built from settings in one place: the adapter and its authentication,
the activity handler, the `/api/messages` endpoint and the proactive sender.

The composition root calls `build_bot` and sees only HeatWatch types back: a request handler,
a `MessageSender`, and `close()`.
"""

from __future__ import annotations

import asyncio

from botbuilder.integration.aiohttp import CloudAdapter

from bots.activity_checks import ServiceUrlPolicy
from bots.auth import build_authentication
from bots.endpoint import MessagesEndpoint
from bots.heatwatch_bot import HeatWatchBot
from bots.sender import BotFrameworkSender
from common.settings import Settings
from common.tokens import TokenSource
from notifier.chat.actions import AlertActions
from notifier.chat.commands import Commands
from notifier.chat.registration import Registration
from notifier.chat.replies import ReplyQueue
from notifier.delivery.ratelimit import DeliveryLimiter
from storage.activities import HandledActivities
from storage.backend import SqlBackend
from storage.registry import ConversationRegistry


class BotRuntime:
    """The bot as the rest of HeatWatch sees it."""

    def __init__(self, settings: Settings, tokens: TokenSource | None, db: SqlBackend,
                 actions: AlertActions, commands: Commands, limiter: DeliveryLimiter,
                 wake: asyncio.Event) -> None:
        self._authentication = build_authentication(settings, tokens)
        adapter = CloudAdapter(self._authentication)
        bot = HeatWatchBot(ConversationRegistry(db), actions, commands, limiter,
                           Registration(db, wake, commands.watching), ReplyQueue(db, wake))
        self.endpoint = MessagesEndpoint(adapter, self._authentication, bot,
                                         ServiceUrlPolicy.from_settings(settings),
                                         HandledActivities(db))
        self.sender = BotFrameworkSender(adapter, settings.app_id)

    async def close(self) -> None:
        await self._authentication.connectors.close()
