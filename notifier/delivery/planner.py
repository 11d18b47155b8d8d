"""From alert events to outbox rows: who is told what, written durably before anything is sent.

Events are folded into incidents (`notifier.alerts.incidents`): the series of one group (a
room) that are in trouble together are one alert, with one card per conversation.

Audience: every active personal chat and every team's alert channel (the registry's default
targets), or the targets the event's routing names (`notifier.alerts.routing`); plus
conversations that subscribed (a group chat or another channel can opt in); minus those that
unsubscribed, muted, or snoozed the incident.

Operations per change of an incident (the card always shows the incident's state at send time):
  opened                 -> a card in each audience conversation, at once
  escalated              -> the card updated wherever it was told (+ audience), at once;
                            a critical comes through snoozes of a warning, with a short text
  updated (series joined or left, de-escalated, values)
                         -> the card updated wherever it was told, after `update_window`
                            seconds, gathering every change meanwhile into one update
  a series reminder      -> one short text per incident per `repeat`, unless acknowledged
  resolved               -> the card updated + a short text, wherever it was told, at once

Snoozes: a conversation that snoozed the incident gets no texts about it while the snooze
holds, unless the incident becomes more severe than it was when snoozed (a critical breaks
through a warning's snooze, with a text saying so). A snooze broken through stays broken for
the rest of that incident (`Incident.broken_snoozes`): the chat that was told of the critical
is told of its reminders and of its end, even after it has cooled to a warning or nothing
(comparing the snooze with the severity at the end, none, lost the resolved note). A new snooze
there holds again; the next incident of the group starts with the snooze whole.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from common.clock import utcnow
from common.times import by_zone
from notifier.alerts.events import AlertEvent, EventKind, Severity
from notifier.alerts.incidents import OPENING, Change, Incident
from notifier.alerts.record import AlertRecord, breaks_snooze
from notifier.alerts.routing import Key, Routing, resolve_targets
from notifier.alerts.store import AlertStore
from notifier.delivery.cards import break_through_text, reminder_text, resolved_text
from notifier.delivery.feed import notice_line, page_rows, people_of
from notifier.delivery.paging import Reach, first_page, reach_unreached
from notifier.delivery.probenotes import notice_rows
from notifier.delivery.siteplan import Planned, SitePlanner
from storage.alerts import Snooze
from storage.audit import SYSTEM, AuditEntry, AuditLog, log_entry
from storage.backend import SqlBackend
from storage.models import Conversation, Scope, Status
from storage.outbox import ESCALATION_PREFIXES, NewDelivery, Operation, Outbox
from storage.preferences import ALL_RULES, Preferences
from storage.registry import ConversationRegistry

log = logging.getLogger(__name__)
_SEVERITY_WORDS = {"crit": "critical", "warn": "a warning"}


@dataclass(frozen=True)
class Recipients:
    """Who could be told anything, read once per published batch of events."""

    conversations: list[Conversation]
    defaults: list[Conversation]
    subscriptions: dict[Key, dict[str, bool]]
    muted: set[Key]
    active: set[Key]

    @property
    def zones(self) -> dict[Key, str | None]:
        """The time zone of each personal chat's reader, as Teams last sent it; a text with
        times is in it there (elsewhere, many readers: UTC)."""
        return {(c.tenant_id, c.conversation_id): c.time_zone for c in self.conversations
                if c.scope is Scope.PERSONAL and c.time_zone}


class OutboxSink:
    """The `AlertSink` that feeds delivery. `publish` returns once the rows are committed."""

    def __init__(self, db: SqlBackend, routing: Routing | None = None,
                 wake: asyncio.Event | None = None, update_window: float = 10.0,
                 feed_link: str | None = None, reach: Reach | None = None) -> None:
        """`feed_link`: page people through the activity feed (see `feed.py`), a tap leading
        there; None: no activity-feed pages. `reach`: install for a targeted person who has
        no chat with the bot yet, before planning (see `paging.py`)."""
        self._feed_link = feed_link
        self._reach = reach
        self._registry = ConversationRegistry(db)
        self._prefs = Preferences(db)
        self._alerts = AlertStore(db)
        self._outbox = Outbox(db)
        self._db = db
        self._routing = routing
        self._window = timedelta(seconds=update_window)
        self._sites = SitePlanner(db, self._window)
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
        if self._routing is not None and await reach_unreached(self._reach, [
                target for event in events for target in self._routing.targets_for(event) or ()],
                recipients.conversations):
            recipients = await self.recipients(now)
        groups: dict[tuple[str, str, str], list[AlertEvent]] = {}
        notices: dict[tuple[str, str, str], list[AlertEvent]] = {}
        for event in events:
            kept = notices if event.kind is EventKind.PROBE_NOTICE else groups
            kept.setdefault((event.source, event.rule, event.group_key), []).append(event)
        planned = [p for group in groups.values()
                   if (p := await self._plan_incident(group, now, recipients)) is not None]
        # Rooms of one site open at once go on one site card per chat (sites.py); all of the
        # batch is one transaction, so a site card and the rooms it shows commit together.
        extra = await self._sites.fold(planned, now, recipients.muted, recipients.zones)
        await self._outbox.enqueue([i for p in planned for i in p.items], now, extra=[
            *(s for p in planned for s in p.statements), *extra])
        for p in planned:
            for entry in (p.audit, p.paged):
                if entry is not None:
                    log_entry(entry)
            # A live update of values (only `reading` events) is routine: not at INFO.
            batch = groups.get((p.incident.source, p.incident.rule, p.incident.group_key), [])
            routine = bool(batch) and all(e.kind is EventKind.READING for e in batch)
            log.log(logging.DEBUG if routine else logging.INFO,
                    "Incident %s %s (%s, %s): %d series, %d deliveries queued",
                    p.incident.alert_id[:8], p.change.value, p.incident.rule or "source",
                    ", ".join(p.incident.group.values()) or "-", len(p.incident.members),
                    len(p.items))
        for group in notices.values():
            await self._publish_notices(group, now, recipients)
        self.wake.set()

    async def _publish_notices(self, notices: list[AlertEvent], now: datetime,
                               recipients: Recipients) -> None:
        """A room's probe-fault notices: one text to the rule's `probe_faults_to` (muted
        chats left out), never an incident, never the default audience."""
        targets = self._routing.targets_for(notices[0]) if self._routing is not None else None
        keys = resolve_targets(targets or (), recipients.conversations, recipients.defaults)
        keys = (keys & recipients.active) - recipients.muted
        if keys:
            await self._outbox.enqueue(notice_rows(notices, keys, recipients.zones), now)
        log.info("Probe-fault notice of %s (%s): %d probe(s), %d conversation(s) told",
                 notices[0].rule, ", ".join(notices[0].group.values()) if notices[0].group
                 else "-", len(notices), len(keys))

    async def _incident_for(self, first: AlertEvent) -> tuple[Incident | None, AlertRecord | None]:
        """The open incident of the events' group, an alert recorded before incidents, or a
        new incident when the events open one."""
        record = await self._alerts.open_incident(first.source, first.rule, first.group_key)
        if record is None and first.kind not in OPENING:
            record = await self._alerts.open_incident_with(first.source, first.rule, first.key)
        if record is None:
            record = await self._alerts.legacy_alert(first.alert_id)
        if record is not None:
            members = await self._alerts.incident_series(record.alert_id)
            return Incident.from_snapshot(record.alert_id, record.incident, members), record
        if first.kind in OPENING:
            return Incident.open_with(first), None
        return None, None

    async def _plan_incident(self, events: list[AlertEvent], now: datetime,
                             recipients: Recipients) -> Planned | None:
        first = events[0]
        incident, record = await self._incident_for(first)
        if incident is None:
            log.info("%s of %s (%s) belongs to no open incident; nothing to tell",
                     first.kind.value, first.rule or "the source", first.alert_id[:8])
            return None
        for event in events:
            incident.apply(event)
        change = incident.settle(now, events[-1].kind)
        if record is None:
            change, incident.kind = Change.OPENED, first.kind
        acknowledged = record is not None and record.acknowledged_by is not None
        remind = (any(e.kind is EventKind.REMINDER for e in events) and change is not
                  Change.ESCALATED and not acknowledged and incident.reminder_due(now))
        if remind:
            incident.last_reminded = now
        items, due_now = await self._plan(incident, change, remind, first, now, recipients)
        if self._feed_link is not None:
            items += await self._pages(incident, change, items, now, recipients)
        statements = self._alerts.incident_statements(
            incident.alert_id, incident.source, incident.rule, incident.group_key,
            incident.snapshot().dumps(), incident.open, clear_ack=change is Change.ESCALATED,
            series={key: incident.members[key].dumps() for key in incident.dirty})
        if due_now:
            statements += self._outbox.expedite_statements(
                incident.alert_id, {(i.tenant_id, i.conversation_id) for i in items}, now)
        audit = self._audit_entry(incident, change, now)
        paged = await self._paged(incident, change, first, items, recipients, now)
        statements += [AuditLog.statement(entry) for entry in (audit, paged) if entry is not None]
        site = next((e.site for e in events if e.site is not None), None)
        return Planned(incident, change, remind, items, statements, audit, site, paged)

    @staticmethod
    def _audit_entry(incident: Incident, change: Change, now: datetime) -> AuditEntry | None:
        """The incident's own steps in the audit trail: fired, became more severe, ended."""
        severity = incident.severity.value if incident.severity else None
        if change is Change.OPENED and incident.kind is not EventKind.TEST:
            action, detail = "fired", f"{incident.kind.value}, severity {severity or '-'}"
        elif change is Change.ESCALATED:
            action, detail = f"became {_SEVERITY_WORDS.get(severity or '', 'worse')}", ""
        elif change is Change.RESOLVED:
            action, detail = incident.kind.value, incident.detail
        else:
            return None
        return AuditEntry(action=action, at=now, actor=SYSTEM, alert_id=incident.alert_id,
                          detail=detail)

    async def _paged(self, incident: Incident, change: Change, event: AlertEvent,
               items: list[NewDelivery], recipients: Recipients,
               now: datetime) -> AuditEntry | None:
        """A critical card reaching personal chats its routing names (not the default
        audience) pages their people: recorded for the card and `history` (`paging.py`)."""
        if (incident.severity is None or incident.severity.value != "crit" or change not in (
                Change.OPENED, Change.ESCALATED) or self._routing is None
                or not self._routing.targets_for(event)):
            return None
        chats = {(c.tenant_id, c.conversation_id): c for c in recipients.conversations
                 if c.scope is Scope.PERSONAL}
        carded = {(i.tenant_id, i.conversation_id) for i in items
                  if i.operation is Operation.CARD}
        if change is Change.ESCALATED:  # as `_pages`: an update already waiting goes out now
            carded |= await self._outbox.pending_cards(incident.alert_id, now)
        told = sorted({chats[key].user_name or "a personal chat" for key in carded
                       if key in chats})
        return first_page(incident.alert_id, told, now) if told else None

    async def _plan(self, incident: Incident, change: Change, remind: bool, event: AlertEvent,
                    now: datetime, recipients: Recipients) -> tuple[list[NewDelivery], bool]:
        """The rows to add, and whether pending card updates must go out at once."""
        revision = hashlib.sha256(
            f"{incident.alert_id}|{change.value}|{now.isoformat()}".encode()).hexdigest()[:24]
        if change is Change.ESCALATED:  # urgent: overtakes other incidents' queued updates
            revision = ESCALATION_PREFIXES[1] + revision

        def rows(keys: Iterable[Key], operation: Operation, payload: str = "",
                 due: datetime | None = None) -> list[NewDelivery]:
            return [NewDelivery(revision, incident.alert_id, tenant, conversation, operation,
                                payload, due) for tenant, conversation in sorted(keys)]

        if change is Change.OPENED:  # opened critical through a warning's snooze: broken
            await self._break_through(incident, now, await self.audience(
                event, now, recipients, incident))
        document = incident.snapshot()
        if change is Change.OPENED:
            return rows(await self.audience(event, now, recipients, incident),
                        Operation.CARD), True
        told = await self._alerts.audience(incident.alert_id)
        pending = await self._outbox.pending_cards(incident.alert_id, now)
        items: list[NewDelivery] = []
        if change is Change.ESCALATED:
            audience = await self.audience(event, now, recipients, incident)
            items = rows((told | audience) - pending, Operation.CARD)
            broken = await self._break_through(incident, now, audience)
            items += rows(broken, Operation.TEXT, break_through_text(document))
        elif change is Change.UPDATED:
            # Gathered for a while, unless a reminder goes out now: the card then shows the
            # same state as the reminder below it.
            items = rows(told - pending, Operation.CARD,
                         due=None if remind else now + self._window)
        elif change is Change.RESOLVED:
            quiet = await self._quiet(incident, now, recipients)
            items = rows(told - pending, Operation.CARD) + rows(
                told - quiet, Operation.TEXT, resolved_text(document))
        if remind:
            listening = told & await self.audience(event, now, recipients, incident)
            for zone, keys in by_zone(listening, recipients.zones).items():
                items += rows(keys, Operation.TEXT, reminder_text(document, zone))
        return items, remind or change in (Change.ESCALATED, Change.RESOLVED)

    async def _pages(self, incident: Incident, change: Change, items: list[NewDelivery],
                     now: datetime, recipients: Recipients) -> list[NewDelivery]:
        """Activity-feed pages: a critical incident's card reaching a personal chat pages its
        person; the end of an incident tells those paged (the same chainId replaces the page)."""
        people = people_of(recipients.conversations)
        document = incident.snapshot()
        event_id = "feed-" + hashlib.sha256(
            f"{incident.alert_id}|{change.value}|{now.isoformat()}".encode()).hexdigest()[:24]
        line = notice_line(document)
        assert self._feed_link is not None
        if change is Change.RESOLVED:
            paged = await self._outbox.paged(incident.alert_id)
            return page_rows(event_id, incident.alert_id, paged, people,
                             line, resolved_text(document), self._feed_link)
        if incident.severity is not Severity.CRIT or change not in (Change.OPENED,
                                                                    Change.ESCALATED):
            return []
        # Every chat whose card shows it critical: a new card row, or an update already
        # waiting in the gathering window (it is sent at once now, see `_plan`).
        carded = {(i.tenant_id, i.conversation_id) for i in items
                  if i.operation is Operation.CARD}
        if change is Change.ESCALATED:
            carded |= await self._outbox.pending_cards(incident.alert_id, now)
        return page_rows(event_id, incident.alert_id, carded, people, line,
                         f"Critical: {line}", self._feed_link)

    async def _quiet(self, incident: Incident, now: datetime,
                     recipients: Recipients) -> set[Key]:
        """Conversations that asked for silence about this incident: muted, or snoozed."""
        quiet = set(recipients.muted)
        if incident.group_key:
            quiet |= {key for key, snooze in (await self._alerts.snoozes(
                incident.rule, incident.group_key, now)).items()
                if not breaks_snooze(snooze, incident.severity)
                and incident.broken_snoozes.get(key) != snooze.until.isoformat()}
        return quiet

    async def _broken_snoozes(self, incident: Incident, now: datetime) -> dict[Key, Snooze]:
        """Snoozes of a lower severity than the incident has now: it comes through them."""
        if not incident.group_key:
            return {}
        return {key: snooze for key, snooze in (await self._alerts.snoozes(
            incident.rule, incident.group_key, now)).items()
            if breaks_snooze(snooze, incident.severity)}

    async def _break_through(self, incident: Incident, now: datetime,
                             audience: set[Key]) -> set[Key]:
        """The conversations of `audience` whose snooze the incident breaks through now; the
        incident remembers them (broken for the rest of it). The ones newly broken."""
        broken = {key: snooze for key, snooze in (
            await self._broken_snoozes(incident, now)).items() if key in audience}
        fresh = {key for key, snooze in broken.items()
                 if incident.broken_snoozes.get(key) != snooze.until.isoformat()}
        incident.broken_snoozes.update(
            {key: snooze.until.isoformat() for key, snooze in broken.items()})
        return fresh

    async def audience(self, event: AlertEvent, now: datetime, recipients: Recipients,
                       incident: Incident | None = None) -> set[Key]:
        """Who `event` reaches now (its incident's snoozes apply; without one, the incident
        the event would open)."""
        incident = incident or Incident.open_with(event)
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
        return (chosen & recipients.active) - await self._quiet(incident, now, recipients)
