"""Escalation: a critical incident nobody acknowledged goes up its escalation policy, step by
step: a rule's `escalate_after`/`escalate_to` (one step) or a named `[[escalation]]` policy
(steps at their own times from the start of the critical episode, the last one optionally
repeated). Each step's targets get the card and a note saying for how long nobody acted and who
was told; the conversations already told get the note too (in a channel: in the card's thread)
and their card updated in place, saying who the step paged (`paging.py`).

Each step happens once per critical episode. A step is an audit entry with a chosen id
(`escalated:<alert>:<critical since>`, then `:<step number>` for the steps after the first)
written in the same transaction as its deliveries, whose outbox event id is derived from it;
both inserts are no-ops the second time. So every replica may run the check (a background job,
every `CHECK_SECONDS`): whichever comes first escalates, the others and any later run (a
restart in the middle of the wait) find it done. A muted conversation is not told (mute pauses
everything there). The clock is the incident's `critical_since`, stored with it. An
acknowledgement stops it (the check skips acknowledged incidents); so does the end (only open
incidents are checked). `oncall:` targets name whoever is on call when the step is taken;
a person a step names who has no chat with the bot yet is installed first (`reach`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from common.clock import utcnow
from common.durations import duration_words
from common.wire import MentionedJson
from notifier.alerts.events import Severity
from notifier.alerts.record import AlertRecord
from notifier.alerts.routing import (
    Escalation,
    Escalations,
    Step,
    mentioned_users,
    resolve_targets,
)
from notifier.alerts.sites import Site
from notifier.alerts.store import AlertStore
from notifier.delivery.cards import escalation_text, note_payload
from notifier.delivery.feed import notice_line, page_rows, people_of
from notifier.delivery.paging import ESCALATED, Reach, reach_unreached, step_detail
from notifier.delivery.sitecard import site_escalation_text, site_page_line
from storage.alerts import Key
from storage.audit import SYSTEM, AuditEntry, AuditLog, log_entry
from storage.backend import SqlBackend
from storage.models import Conversation, Scope, Status
from storage.outbox import ESCALATION_PREFIXES, NewDelivery, Operation, Outbox
from storage.preferences import Preferences
from storage.registry import ConversationRegistry
from storage.sites import SiteStore

log = logging.getLogger(__name__)

CHECK_SECONDS = 15.0  # how often unacknowledged criticals are checked
LOCK_SECONDS = 30.0  # the longest a site escalation waits for another replica's


def _name(conversation: Conversation) -> str:
    if conversation.scope is Scope.PERSONAL:
        return conversation.user_name or "a personal chat"
    if conversation.scope is Scope.CHANNEL:
        return f"{conversation.team_name or 'a team'} › {conversation.channel_name or 'General'}"
    return "a group chat"


def step_event(step_id: str) -> str:
    """The outbox event id of a step's deliveries (an escalation's: it overtakes updates)."""
    return ESCALATION_PREFIXES[0] + hashlib.sha256(step_id.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Due:
    """One escalation step whose time has come for one incident."""

    alert: AlertRecord
    policy: Escalation
    number: int  # from 0
    step: Step
    step_id: str  # its audit entry's id: once per critical episode
    waited: float  # seconds since the incident became critical


@dataclass
class Told:
    """Who one step tells: the active conversations, the step's targets among them, the
    people it @mentions, and their names for the note."""

    active: dict[Key, Conversation]
    targets: set[Key]
    people: list[str]
    mentions: list[MentionedJson]

    def names(self) -> list[str]:
        return sorted({_name(self.active[key]) for key in self.targets} | {
            m["name"] for m in self.mentions if m["name"] != "on call"})

    def note(self, event_id: str, alert_id: str, keys: set[Key], text: str) -> list[NewDelivery]:
        """The step's note in each of `keys` (@mentions outside personal chats)."""
        return [NewDelivery(event_id, alert_id, *key, Operation.TEXT, note_payload(
                    text, self.mentions if self.active[key].scope is not Scope.PERSONAL
                    else [])) for key in sorted(keys)]


class Escalator:
    def __init__(self, db: SqlBackend, escalations: Escalations,
                 wake: asyncio.Event | None = None, feed_link: str | None = None,
                 reach: Reach | None = None) -> None:
        self._feed_link = feed_link  # page the step's people through the activity feed
        self._reach = reach  # install for a paged person without a chat (paging.py)
        self._db = db
        self._alerts = AlertStore(db)
        self._audit = AuditLog(db)
        self._outbox = Outbox(db)
        self._registry = ConversationRegistry(db)
        self._preferences = Preferences(db)
        self._sites = SiteStore(db)
        self._escalations = escalations
        self._wake = wake

    async def check(self, now: datetime) -> int:
        """Escalate every critical incident that waited too long; how many were escalated.
        The rooms of one site event that reach the same step together are one step: one note
        per chat and one page per person, naming the rooms (`_take_site`)."""
        escalated: set[str] = set()
        together: dict[tuple[str, int, Step], list[Due]] = {}
        for alert in await self._alerts.open_alerts():
            for due in await self._due(alert, now):
                site = await self._sites.site_of(alert.alert_id)
                if site is not None:
                    together.setdefault((site, due.number, due.step), []).append(due)
                elif await self._take(due, now):
                    escalated.add(alert.alert_id)
        for (site, _, _), group in together.items():
            escalated |= await self._take_site(site, group, now)
        if escalated and self._wake is not None:
            self._wake.set()
        return len(escalated)

    async def _due(self, alert: AlertRecord, now: datetime) -> list[Due]:
        """The steps of the incident's policy whose time has come and that were not taken."""
        event = alert.incident
        since = event.critical_since
        if event.severity is not Severity.CRIT or alert.acknowledged_by or since is None:
            return []
        policy = self._escalations.escalation_for(event.source, alert.rule, event.series)
        if policy is None:
            return []
        since_text = since.isoformat()  # names the episode in the steps' ids
        waited = (now - since).total_seconds()
        due = []
        for number, step in policy.due(waited):
            # The first step keeps the id it had before policies had steps (an upgrade in the
            # middle of a wait does not escalate twice).
            step_id = f"escalated:{alert.alert_id}:{since_text}" + (f":{number}" if number
                                                                     else "")
            if not await self._audit.has(step_id):
                due.append(Due(alert, policy, number, step, step_id, waited))
        return due

    async def _told(self, step: Step, now: datetime) -> Told:
        conversations = await self._registry.list_conversations()
        if await reach_unreached(self._reach, step.targets, conversations):
            conversations = await self._registry.list_conversations()
        muted = await self._preferences.muted(min(now, utcnow()))
        active = {(c.tenant_id, c.conversation_id): c for c in conversations
                  if c.status is Status.ACTIVE and (c.tenant_id, c.conversation_id) not in muted}
        targets = resolve_targets(step.targets, conversations,
                                  await self._registry.list_alert_targets()) & set(active)
        people = mentioned_users(step.targets)
        known = await self._registry.people(people)
        # Teams mentions name a person by their Teams user id when the bot saw them (a team
        # or group chat member), else by the AAD object id.
        mentions: list[MentionedJson] = [
            {"id": known[aad.lower()][1] if aad.lower() in known else aad,
             "name": (known.get(aad.lower()) or ("", ""))[0] or "on call"} for aad in people]
        return Told(active, targets, people, mentions)

    async def _take(self, due: Due, now: datetime) -> bool:
        """One step of a policy for one incident: its targets get the card and everyone told
        gets the note; False when another replica took it first."""
        alert, event = due.alert, due.alert.incident
        told = await self._told(due.step, now)
        audience = await self._alerts.audience(alert.alert_id) & set(told.active)
        names = told.names()
        text = escalation_text(event, due.waited, names)
        event_id = step_event(due.step_id)
        # The step's targets get the card; where it was told already, the card is updated
        # in place: it says who this step paged (paging.py).
        keys = told.targets | audience
        items = [NewDelivery(event_id, alert.alert_id, *key, Operation.CARD)
                 for key in sorted(keys)]
        items += told.note(event_id, alert.alert_id, keys, text)
        if self._feed_link is not None:
            items += page_rows(event_id, alert.alert_id, told.targets,
                               people_of(told.active.values()), notice_line(event), text,
                               self._feed_link)
        sent_at = min(now, utcnow())  # `now` may be a test's future: deliveries are due now
        entry = self._entry(due, names, sent_at)
        counts = await self._db.execute_atomically([
            AuditLog.statement(entry),
            *self._outbox.expedite_statements(alert.alert_id, keys, sent_at),
            *self._outbox.enqueue_statements(items, sent_at)])
        if not counts[0]:
            return False  # another replica was quicker; its rows are the same, so nothing new
        log_entry(entry)
        self._warn_unreached(told, due)
        return True

    async def _take_site(self, site_id: str, group: list[Due], now: datetime) -> set[str]:
        """One step taken for rooms of a site event at once: each room's step is recorded
        (once per episode, as `_take`), and the chats get the site card, not a card per room:
        one card and one note per chat, one page per person. The rooms escalated.

        Replicas take site steps one at a time (a database lock), each first leaving out the
        rooms another one took: the note names only the rooms this step escalates, never a
        room twice (the note is one text for several rooms, so its rows cannot be keyed by a
        room's step as `_take`'s are)."""
        try:
            # Bounded: a replica cut off while holding the lock must not stop this one's
            # escalations (the rooms' own steps, taken before, are not held up by it).
            async with asyncio.timeout(LOCK_SECONDS), self._db.exclusive("site-escalation"):
                group = [due for due in group if not await self._audit.has(due.step_id)]
                return await self._take_site_now(site_id, group, now) if group else set()
        except TimeoutError:
            log.warning("The site escalation of %s waited %gs for another replica's; it is "
                        "tried again at the next check", site_id[:8], LOCK_SECONDS)
            return set()

    async def _take_site_now(self, site_id: str, group: list[Due], now: datetime) -> set[str]:
        record = await self._alerts.get(site_id)
        if record is None:  # the site event ended meanwhile: room by room
            return {due.alert.alert_id for due in group if await self._take(due, now)}
        site = Site.from_record(site_id, record.incident, await self._alerts.series_rows(site_id))
        rooms = [due.alert.alert_id for due in group]
        told = await self._told(group[0].step, now)
        audience: set[Key] = set(await self._alerts.audience(site_id))
        for room in rooms:
            audience |= await self._alerts.audience(room)
        audience &= set(told.active)
        keys = told.targets | audience
        names = told.names()
        text = site_escalation_text(site, rooms, max(due.waited for due in group), names)
        event_id = step_event("|".join(sorted(due.step_id for due in group)))
        sent_at = min(now, utcnow())
        # Each room is told through the site card in every chat of the step (the site card
        # shows the rooms a chat was told of); then the site card, the note, the pages.
        statements = [statement for due in group for statement in SiteStore.folded_statements(
            step_event(due.step_id), due.alert.alert_id, keys, site_id, sent_at)]
        items = [NewDelivery(event_id, site_id, *key, Operation.CARD) for key in sorted(keys)]
        items += told.note(event_id, site_id, keys, text)
        if self._feed_link is not None:
            items += page_rows(event_id, site_id, told.targets, people_of(told.active.values()),
                               site_page_line(site), text, self._feed_link)
        entries = [self._entry(due, names, sent_at) for due in group]
        counts = await self._db.execute_atomically([
            *(AuditLog.statement(entry) for entry in entries), *statements,
            *self._outbox.expedite_statements(site_id, keys, sent_at),
            *self._outbox.enqueue_statements(items, sent_at)])
        taken = {entry.alert_id for entry, count in zip(entries, counts, strict=False) if count}
        for entry in entries:
            if entry.alert_id in taken:
                log_entry(entry)
        if taken:
            self._warn_unreached(told, group[0])
        return {room for room in taken if room is not None}

    @staticmethod
    def _entry(due: Due, names: list[str], at: datetime) -> AuditEntry:
        return AuditEntry(action=ESCALATED, at=at, actor=SYSTEM, alert_id=due.alert.alert_id,
                          detail=step_detail(due.number, due.policy, duration_words(due.waited),
                                             names), id=due.step_id)

    @staticmethod
    def _warn_unreached(told: Told, due: Due) -> None:
        if not told.targets:
            log.warning("Escalation of %s reached none of %s (not installed there, or nobody "
                        "on call?)", due.alert.alert_id[:8],
                        ", ".join(due.step.targets) or "no target")

    async def step(self) -> float:
        """One run of the background job; the seconds until the next."""
        await self.check(utcnow())
        return CHECK_SECONDS
