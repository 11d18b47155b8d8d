"""What people do to alerts, from cards, reactions or chat: acknowledge, snooze, subscribe, mute.

The card button, the 👍 reaction and the chat command all come here and get the same
`Outcome` (same text). Every change that a card shows is followed by card updates through the
outbox, so each conversation's card stays current and the update survives a restart. Every
change is recorded in the audit trail (`storage.audit`), which also logs it; an action that
changes nothing (a second acknowledgement) is not recorded and says why.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from common.clock import utcnow
from common.literal import shown
from common.times import at
from notifier.alerts.events import Severity
from notifier.alerts.record import AlertRecord
from notifier.alerts.sites import is_site
from notifier.alerts.store import AlertStore
from notifier.chat.access import Access, Operators, not_found_here
from notifier.chat.siteactions import act_on_site
from notifier.delivery.cards import NAME_LIMIT, summary_line
from notifier.delivery.charts import ChartMaker
from notifier.delivery.paging import PagingReader
from notifier.inbound.silences import Silences
from storage.audit import AuditEntry, AuditLog, log_entry
from storage.backend import SqlBackend, Statement
from storage.models import Scope
from storage.outbox import NewDelivery, Operation, Outbox
from storage.preferences import ALL_RULES, Preferences


@dataclass(frozen=True)
class Actor:
    """Who acted, where."""

    tenant_id: str
    conversation_id: str
    name: str
    scope: Scope = Scope.PERSONAL
    time_zone: str | None = None  # IANA name Teams sent (see common/times.py)
    aad_object_id: str = ""  # the person's, when Teams says (for OPERATORS)
    team_id: str = ""  # the team of a channel conversation (for OPERATORS)


@dataclass(frozen=True)
class Outcome:
    """What an action did: the alert as it is now (None: unknown), whether anything changed,
    and what to tell the person (the same words from a button, a reaction or a command)."""

    alert: AlertRecord | None
    changed: bool
    text: str


def _severity(alert: AlertRecord) -> str:
    severity = alert.incident.severity
    return severity.value if severity else "-"


def _ref(alert: AlertRecord) -> str:
    return f"`{alert.alert_id[:8]}` ({summary_line(alert.incident)})"


def _who(name: str | None) -> str:
    """A person's display name (from Teams) in a reply: literal text."""
    return shown(name or "someone", NAME_LIMIT)


class AlertActions:
    def __init__(self, db: SqlBackend, wake: asyncio.Event | None = None,
                 operators: Operators | None = None, silences: Silences | None = None,
                 charts: ChartMaker | None = None, paging: PagingReader | None = None) -> None:
        self.alerts = AlertStore(db)
        self.access = Access(self.alerts, operators, paging)  # who may see and act (access.py)
        self.preferences = Preferences(db)
        self.audit = AuditLog(db)
        self._outbox = Outbox(db)
        self._db = db
        self._wake = wake
        # Alertmanager silences and trend charts on cards (given by the composition root).
        self.silences = silences
        self.charts = charts

    async def _commit(self, entry: AuditEntry, alert_id: str | None = None,
                      keys: list[tuple[str, str]] | None = None,
                      extra: list[Statement] | None = None) -> None:
        """The change (`extra`), its audit entry and card updates (each action is its own
        'event' for the outbox's uniqueness) in one transaction; then the log line."""
        items = [NewDelivery("action-" + entry.id, alert_id, tenant, conversation,
                             Operation.CARD) for tenant, conversation in keys or []
                 ] if alert_id else []
        await self._outbox.enqueue(items, entry.at,
                                   extra=[*(extra or []), self.audit.statement(entry)])
        log_entry(entry)
        if items and self._wake is not None:
            self._wake.set()

    @staticmethod
    def _entry(action: str, actor: Actor, alert_id: str | None = None,
               detail: str = "") -> AuditEntry:
        return AuditEntry(action=action, at=utcnow(), actor=actor.name,
                          tenant_id=actor.tenant_id, conversation_id=actor.conversation_id,
                          alert_id=alert_id, detail=detail)

    async def _visible(self, alert_id: str, actor: Actor, what: str) -> AlertRecord | None:
        """The alert, if the actor's conversation may act on it (notifier/chat/access.py)."""
        view = await self.access.view(alert_id, actor, what=what)
        return view.alert if view is not None else None

    async def acknowledge(self, alert_id: str, actor: Actor) -> Outcome:
        """Stops reminders and escalation (until it becomes more severe or ends); every card
        of it shows who acknowledged and when. The first acknowledgement stands."""
        alert = await self._visible(alert_id, actor, "acknowledge")
        if alert is None:
            return Outcome(None, False, not_found_here(alert_id))
        if is_site(alert.incident):  # a site card: each of its rooms (siteactions.py)
            return await act_on_site(self, alert, actor, "acknowledge")
        if alert.acknowledged_by:
            return Outcome(alert, False, f"Already acknowledged by "
                                         f"{_who(alert.acknowledged_by)} at "
                                         f"{at(alert.acknowledged_at, actor.time_zone)}: "
                                         f"{_ref(alert)}. "
                                         "Nothing changed.")
        if not alert.open:
            return Outcome(alert, False, f"{_ref(alert)} has already ended; nothing to "
                                         "acknowledge.")
        entry = self._entry("acknowledged", actor, alert_id,
                            f"severity {_severity(alert)}")
        if not await self._db.execute(*self.alerts.acknowledge_statement(
                alert_id, actor.name, entry.at)):
            return await self.acknowledge(alert_id, actor)  # someone was quicker: say who
        await self._commit(entry, alert_id, await self.alerts.cards_of(alert_id))
        return Outcome(await self.alerts.get(alert_id), True,
                       f"Acknowledged {_ref(alert)} by {_who(actor.name)}. Reminders and "
                       "escalation stop until it becomes more severe or ends.")

    async def unacknowledge(self, alert_id: str, actor: Actor) -> Outcome:
        """Anyone may undo an acknowledgement; it is recorded."""
        alert = await self._visible(alert_id, actor, "unacknowledge")
        if alert is None:
            return Outcome(None, False, not_found_here(alert_id))
        if is_site(alert.incident):  # a site card: each of its rooms (siteactions.py)
            return await act_on_site(self, alert, actor, "unacknowledge")
        if not alert.acknowledged_by or not await self._db.execute(
                *self.alerts.unacknowledge_statement(alert_id)):
            return Outcome(alert, False, f"{_ref(alert)} is not acknowledged; nothing changed.")
        entry = self._entry("unacknowledged", actor, alert_id,
                            f"was acknowledged by {alert.acknowledged_by} at "
                            f"{at(alert.acknowledged_at, None)}")
        await self._commit(entry, alert_id, await self.alerts.cards_of(alert_id))
        return Outcome(await self.alerts.get(alert_id), True,
                       f"{_who(actor.name)} undid the acknowledgement of {_ref(alert)} (by "
                       f"{_who(alert.acknowledged_by)}): reminders and escalation go on.")

    async def snooze(self, alert_id: str, seconds: float, actor: Actor) -> Outcome:
        """Silence the incident's updates and reminders in this conversation; a critical
        escalation of a warning still comes through."""
        alert = await self._visible(alert_id, actor, "snooze")
        if alert is None:
            return Outcome(None, False, not_found_here(alert_id))
        if is_site(alert.incident):  # a site card: each of its rooms (siteactions.py)
            return await act_on_site(self, alert, actor, "snooze", seconds)
        if not alert.incident.series or not alert.open:
            return Outcome(alert, False, f"{_ref(alert)} cannot be snoozed "
                                         f"({'it has ended' if not alert.open else 'no series'}).")
        until = utcnow() + timedelta(seconds=seconds)
        severity = alert.incident.severity
        entry = self._entry("snoozed", actor, alert_id, f"until {at(until, None)}")
        await self._commit(entry, alert_id, [(actor.tenant_id, actor.conversation_id)], [
            self.alerts.snooze_statement(actor.tenant_id, actor.conversation_id, alert.rule,
                                         alert.incident.series_key, until, actor.name,
                                         severity.value if severity else None)])
        through = (" A critical escalation still comes through."
                   if severity is not Severity.CRIT else "")
        return Outcome(alert, True, f"Snoozed {_ref(alert)} here until "
                                    f"{at(until, actor.time_zone)} by "
                                    f"{_who(actor.name)}: no updates or reminders about it here "
                                    f"until then.{through} **unsnooze {alert_id[:8]}** ends it "
                                    "sooner.")

    async def unsnooze(self, alert_id: str, actor: Actor) -> Outcome:
        alert = await self._visible(alert_id, actor, "unsnooze")
        if alert is None:
            return Outcome(None, False, not_found_here(alert_id))
        if is_site(alert.incident):  # a site card: each of its rooms (siteactions.py)
            return await act_on_site(self, alert, actor, "unsnooze")
        now = utcnow()
        snooze = (await self.alerts.snoozes(alert.rule, alert.incident.series_key,
                                            now)).get((actor.tenant_id, actor.conversation_id))
        if snooze is None or not alert.incident.series or not await self._db.execute(
                *self.alerts.unsnooze_statement(actor.tenant_id, actor.conversation_id,
                                                alert.rule, alert.incident.series_key,
                                                now)):
            return Outcome(alert, False, f"{_ref(alert)} is not snoozed here; nothing changed.")
        entry = self._entry("unsnoozed", actor, alert_id,
                            f"was snoozed by {snooze.by_name or '-'} until "
                            f"{at(snooze.until, None)}")
        await self._commit(entry, alert_id, [(actor.tenant_id, actor.conversation_id)])
        return Outcome(alert, True, f"Snooze of {_ref(alert)} here ended by "
                                    f"{_who(actor.name)}: its updates and reminders come here "
                                    "again.")

    async def subscribe(self, actor: Actor, rule: str | None, subscribed: bool) -> None:
        await self.preferences.set_subscription(actor.tenant_id, actor.conversation_id,
                                                rule or ALL_RULES, subscribed)
        await self._commit(self._entry("subscribed" if subscribed else "unsubscribed", actor,
                                       detail=f"rule {rule or 'all'}"))

    async def mute(self, actor: Actor, seconds: float) -> Outcome:
        now = utcnow()
        before = await self.preferences.mute_of(actor.tenant_id, actor.conversation_id, now)
        until = now + timedelta(seconds=seconds)
        await self.preferences.mute(actor.tenant_id, actor.conversation_id, until, actor.name)
        await self._commit(self._entry("muted", actor, detail=f"until {at(until, None)}"))
        was = (f" It was muted until {at(before[0], actor.time_zone)} "
               f"(by {_who(before[1])}); the new "
               "time replaces that." if before else "")
        return Outcome(None, True, f"Muted here until {at(until, actor.time_zone)}: no alerts come "
                                   "to this "
                                   f"conversation until then.{was} **unmute** ends it sooner.")

    async def unmute(self, actor: Actor) -> Outcome:
        before = await self.preferences.mute_of(actor.tenant_id, actor.conversation_id,
                                                utcnow())
        await self.preferences.unmute(actor.tenant_id, actor.conversation_id)
        if before is None:
            return Outcome(None, False, "Nothing was muted here, so nothing changed: alerts "
                                        "already come to this conversation.")
        await self._commit(self._entry("unmuted", actor,
                                       detail=f"was muted until {at(before[0], None)}"))
        return Outcome(None, True, f"Unmuted: alerts come to this conversation again (it was "
                                   f"muted by {_who(before[1])} until "
                                   f"{at(before[0], actor.time_zone)}).")
