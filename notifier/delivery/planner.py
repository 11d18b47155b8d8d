"""From alert events to outbox rows: who is told what, written durably before anything is sent.

Audience: every active personal chat and every team's alert channel (the registry's default
targets), or the targets the event's routing names (`notifier.alerts.routing`); plus
conversations that subscribed (a group chat or another channel can opt in); minus those that
unsubscribed, muted, or snoozed the series.

Operations per event kind:
  fired, no-data, source-down   -> a card in each audience conversation
  escalated, de-escalated       -> the card updated wherever the alert was told (+ audience)
  reminder                      -> a short text, unless acknowledged
  resolved, data-back, source-up-> the card updated + a short text, wherever it was told
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from common.clock import utcnow
from notifier.alerts.events import AlertEvent, EventKind
from notifier.alerts.routing import Key, Routing, resolve_targets
from notifier.delivery.cards import reminder_text, resolved_text
from storage.alerts import AlertStore
from storage.backend import SqlBackend
from storage.models import Conversation, Status
from storage.outbox import NewDelivery, Operation, Outbox
from storage.preferences import ALL_RULES, Preferences
from storage.registry import ConversationRegistry

log = logging.getLogger(__name__)

_NEW = {EventKind.FIRED, EventKind.NO_DATA, EventKind.SOURCE_DOWN, EventKind.TEST}
_CHANGED = {EventKind.ESCALATED, EventKind.DEESCALATED}
_ENDED = {EventKind.RESOLVED, EventKind.DATA_BACK, EventKind.SOURCE_UP}


@dataclass(frozen=True)
class Recipients:
    """Who could be told anything, read once per published batch of events."""

    conversations: list[Conversation]
    defaults: list[Conversation]
    subscriptions: dict[Key, dict[str, bool]]
    muted: set[Key]
    active: set[Key]


class OutboxSink:
    """The `AlertSink` that feeds delivery. `publish` returns once the rows are committed."""

    def __init__(self, db: SqlBackend, routing: Routing | None = None,
                 wake: asyncio.Event | None = None) -> None:
        self._registry = ConversationRegistry(db)
        self._prefs = Preferences(db)
        self._alerts = AlertStore(db)
        self._outbox = Outbox(db)
        self._db = db
        self._routing = routing
        self.wake = wake or asyncio.Event()

    async def recipients(self, now: datetime) -> Recipients:
        conversations = await self._registry.list_conversations()
        return Recipients(
            conversations=conversations,
            defaults=await self._registry.list_alert_targets(),
            subscriptions=await self._prefs.subscriptions(),
            muted=set(await self._prefs.muted(now)),
            active={(c.tenant_id, c.conversation_id) for c in conversations
                    if c.status is Status.ACTIVE},
        )

    async def publish(self, events: list[AlertEvent]) -> None:
        now = utcnow()
        recipients = await self.recipients(now)
        for event in events:
            items = await self._plan(event, now, recipients)
            statement = self._alerts.record_statement(
                event.alert_id, event.rule, event.to_json(),
                clear_ack=event.kind is EventKind.ESCALATED)
            await self._outbox.enqueue(items, now, extra=[statement])
            log.info("Alert %s %s (%s): %d deliveries queued", event.alert_id[:8],
                     event.kind.value, event.rule or "source", len(items))
        self.wake.set()

    async def _plan(self, event: AlertEvent, now: datetime,
                    recipients: Recipients) -> list[NewDelivery]:
        def rows(keys: Iterable[Key], operation: Operation, payload: str = "") -> list[
                NewDelivery]:
            return [NewDelivery(event.event_id, event.alert_id, tenant, conversation, operation,
                                payload) for tenant, conversation in sorted(keys)]

        if event.kind in _NEW:
            return rows(await self.audience(event, now, recipients), Operation.CARD)
        told = await self._told(event.alert_id)
        if event.kind in _CHANGED:
            return rows(told | await self.audience(event, now, recipients), Operation.CARD)
        if event.kind is EventKind.REMINDER:
            alert = await self._alerts.get(event.alert_id)
            if alert is not None and alert.acknowledged_by:
                return []
            listening = told & await self.audience(event, now, recipients)
            return rows(listening, Operation.TEXT, reminder_text(event.to_json()))
        if event.kind in _ENDED:
            quiet = await self._quiet(event, now, recipients)
            return rows(told, Operation.CARD) + rows(
                told - quiet, Operation.TEXT, resolved_text(event.to_json()))
        return []

    async def _told(self, alert_id: str) -> set[Key]:
        rows = await self._db.fetch_all(
            "SELECT DISTINCT tenant_id, conversation_id FROM deliveries WHERE alert_id = ? "
            "AND status <> 'dead'", (alert_id,))
        return {(row["tenant_id"], row["conversation_id"]) for row in rows}

    async def _quiet(self, event: AlertEvent, now: datetime,
                     recipients: Recipients) -> set[Key]:
        """Conversations that asked for silence about this event: muted, or series snoozed."""
        quiet = set(recipients.muted)
        if event.series:
            quiet |= set(await self._alerts.snoozes(event.rule, event.key, now))
        return quiet

    async def audience(self, event: AlertEvent, now: datetime,
                       recipients: Recipients) -> set[Key]:
        targets = self._routing.targets_for(event) if self._routing is not None else None
        if targets:
            base = resolve_targets(targets, recipients.conversations, recipients.defaults)
        else:
            base = {(c.tenant_id, c.conversation_id) for c in recipients.defaults}
        chosen = set(base)
        for key, choices in recipients.subscriptions.items():
            choice = choices.get(event.rule, choices.get(ALL_RULES))
            if choice is True:
                chosen.add(key)
            elif choice is False:
                chosen.discard(key)
        return (chosen & recipients.active) - await self._quiet(event, now, recipients)
