"""What people do to alerts, from cards, reactions or chat: acknowledge, snooze, subscribe, mute.

Every change that a card shows is followed by card updates through the outbox, so each
conversation's card stays current and the update survives a restart.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from common.clock import utcnow
from notifier.alerts.events import stored_series_key
from notifier.inbound.silences import Silences
from storage.alerts import AlertRecord, AlertStore
from storage.backend import SqlBackend
from storage.outbox import NewDelivery, Operation, Outbox
from storage.preferences import ALL_RULES, Preferences


@dataclass(frozen=True)
class Actor:
    """Who acted, where."""

    tenant_id: str
    conversation_id: str
    name: str


class AlertActions:
    def __init__(self, db: SqlBackend, wake: asyncio.Event | None = None) -> None:
        self.alerts = AlertStore(db)
        self.preferences = Preferences(db)
        self._outbox = Outbox(db)
        self._wake = wake
        # Alertmanager silences from cards (the composition root sets it).
        self.silences: Silences | None = None

    async def _refresh_cards(self, alert_id: str, keys: list[tuple[str, str]]) -> None:
        """Queue card updates (each action is its own 'event' for the outbox's uniqueness)."""
        action_id = "action-" + uuid.uuid4().hex
        await self._outbox.enqueue(
            [NewDelivery(action_id, alert_id, tenant, conversation, Operation.CARD)
             for tenant, conversation in keys], utcnow())
        if self._wake is not None:
            self._wake.set()

    async def acknowledge(self, alert_id: str, actor: Actor) -> AlertRecord | None:
        """Stops reminders for the alert (until it escalates or resolves and fires again);
        every card of it shows who acknowledged and when."""
        if await self.alerts.get(alert_id) is None:
            return None
        await self.alerts.acknowledge(alert_id, actor.name, utcnow())
        await self._refresh_cards(alert_id, await self.alerts.cards_of(alert_id))
        return await self.alerts.get(alert_id)

    async def unacknowledge(self, alert_id: str, actor: Actor) -> AlertRecord | None:
        if await self.alerts.get(alert_id) is None:
            return None
        await self.alerts.unacknowledge(alert_id)
        await self._refresh_cards(alert_id, await self.alerts.cards_of(alert_id))
        return await self.alerts.get(alert_id)

    async def snooze(self, alert_id: str, hours: float, actor: Actor) -> AlertRecord | None:
        """Silence the alert's series in this conversation for `hours`."""
        alert = await self.alerts.get(alert_id)
        if alert is None or not alert.event.get("series"):
            return None
        until = utcnow() + timedelta(hours=hours)
        await self.alerts.snooze(actor.tenant_id, actor.conversation_id, alert.rule,
                                 stored_series_key(alert.event), until, actor.name)
        await self._refresh_cards(alert_id, [(actor.tenant_id, actor.conversation_id)])
        return alert

    async def subscribe(self, actor: Actor, rule: str | None, subscribed: bool) -> None:
        await self.preferences.set_subscription(actor.tenant_id, actor.conversation_id,
                                                rule or ALL_RULES, subscribed)

    async def mute(self, actor: Actor, seconds: float) -> datetime:
        until = utcnow() + timedelta(seconds=seconds)
        await self.preferences.mute(actor.tenant_id, actor.conversation_id, until, actor.name)
        return until

    async def unmute(self, actor: Actor) -> None:
        await self.preferences.unmute(actor.tenant_id, actor.conversation_id)
