"""Registering a conversation the bot arrived in, with its welcome as a durable delivery.

The conversation row, the "welcomed" mark and the welcome message in the outbox are written in
one transaction: either the bot knows the conversation and will greet it (the delivery workers
send the welcome with their limits and retries, and mark it done only when the connector
accepted it), or nothing happened and Teams' re-send of the activity tries again. The mark is
claimed once per conversation, so there is exactly one welcome, whatever fails in between.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable

from common.clock import utcnow
from notifier.alerts.store import AlertStore
from notifier.chat.welcome import Watching, welcome_text
from storage.backend import SqlBackend
from storage.models import ConversationUpsert
from storage.outbox import NewDelivery, Operation, Outbox
from storage.registry import WELCOME_EVENT_PREFIX, ConversationRegistry

log = logging.getLogger(__name__)

WELCOME_ALERT_ID = ""  # welcome deliveries belong to no alert


class Registration:
    def __init__(self, db: SqlBackend, wake: asyncio.Event | None = None,
                 watching: Callable[[], Watching] = Watching) -> None:
        self._db = db
        self._watching = watching  # what the rules in force watch, for the welcome's words
        self._alerts = AlertStore(db)
        self._outbox = Outbox(db)
        self._wake = wake

    async def register(self, item: ConversationUpsert, welcome: bool) -> bool:
        """Store the conversation; with `welcome`, queue its welcome unless it had one.
        True when a welcome was queued."""
        statements = [ConversationRegistry.upsert_statement(item)]
        if not welcome:
            await self._db.execute_atomically(statements)
            return False
        now = utcnow()
        stamp = now.isoformat()
        tenant, conversation = item.tenant_id, item.conversation_id
        # Only the open alerts this conversation was told of (before a re-install): `alerts`
        # shows it no others (notifier/chat/access.py), so the welcome hints at none.
        firing = len(await self._alerts.open_alerts((tenant, conversation)))
        event_id = WELCOME_EVENT_PREFIX + hashlib.sha256(
            f"{tenant}|{conversation}|{stamp}".encode()).hexdigest()[:16]
        statements.append(ConversationRegistry.claim_welcome_statement(tenant, conversation,
                                                                       stamp))
        statements += self._outbox.enqueue_statements(
            [NewDelivery(event_id, WELCOME_ALERT_ID, tenant, conversation, Operation.TEXT,
                         welcome_text(item.scope, firing, self._watching()))], now,
            only_if=ConversationRegistry.welcomed_at_condition(tenant, conversation, stamp))
        counts = await self._db.execute_atomically(statements)
        queued = counts[-1] > 0
        if queued:
            log.info("Welcome for %s queued", conversation)
            if self._wake is not None:
                self._wake.set()
        return queued

    async def welcome_again(self, item: ConversationUpsert) -> bool:
        """Queue the welcome of a conversation whose welcome was given up (the connector was
        out for longer than the delivery budget). True when one was queued."""
        if not await self._outbox.gave_up_welcome(item.tenant_id, item.conversation_id,
                                                  WELCOME_EVENT_PREFIX):
            return False
        return await self.register(item, True)
