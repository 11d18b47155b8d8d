"""The handoff card: when a schedule hands over to someone, they get one card in their personal
chat: the open incidents, what happened during the last shift (incidents, acknowledgements,
escalations) and who had it before them.

Once per handoff, like an escalation step: an audit entry with a chosen id
(`handoff:<schedule>:<since>:<person>`) is written in the same transaction as the delivery, so
every replica may run the check (a background job) and a restart sends nothing twice. A handoff
is greeted up to `GRACE` after it happened (HeatWatch may have been down at that moment); the
person must have the bot (a schedule's people are kept installed, see `install/reconcile.py`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta

from common.clock import utcnow
from notifier.alerts.schedules import Schedules, Shift
from notifier.alerts.store import AlertStore
from notifier.delivery.budget import CardJson
from notifier.delivery.cards import summary_line
from storage.audit import SYSTEM, AuditEntry, AuditLog, log_entry
from storage.backend import SqlBackend
from storage.models import Conversation, Scope, Status
from storage.outbox import NewDelivery, Operation, Outbox
from storage.registry import ConversationRegistry

log = logging.getLogger(__name__)

CHECK_SECONDS = 30.0
GRACE = timedelta(hours=1)
LISTED = 10  # open incidents named on the card; the rest are counted
# What happened in a shift, by audit action: (one, several).
SHIFT_WORDS = {"fired": ("incident began", "incidents began"),
               "acknowledged": ("acknowledged", "acknowledged"),
               "escalated": ("escalation step", "escalation steps"),
               "resolved": ("resolved", "resolved")}


def handoff_card(schedule: str, shift: Shift, outgoing: str, incoming: str,
                 open_incidents: list[str], counts: dict[str, int], last_since: datetime,
                 until: str) -> CardJson:
    """The card for the person taking over `schedule`."""
    listed = [{"type": "TextBlock", "wrap": True, "spacing": "None", "text": f"- {line}"}
              for line in open_incidents[:LISTED]]
    if len(open_incidents) > LISTED:
        listed.append({"type": "TextBlock", "isSubtle": True, "spacing": "None",
                       "text": f"and {len(open_incidents) - LISTED} more"})
    happened = ", ".join(f"{counts[action]} {words[counts[action] != 1]}"
                         for action, words in SHIFT_WORDS.items()
                         if counts.get(action)) or "nothing: no incident, no action"
    since_text = last_since.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "type": "AdaptiveCard", "version": "1.5",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "body": [
            {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": True,
             "text": f"You are on call: {schedule}"},
            {"type": "TextBlock", "wrap": True, "spacing": "None", "isSubtle": True,
             "text": f"{incoming}, you take over from {outgoing}, on call until {until}."},
            {"type": "TextBlock", "weight": "Bolder", "text":
             f"Open incidents: {len(open_incidents)}" if open_incidents else
             "No open incidents"},
            *listed,
            {"type": "TextBlock", "weight": "Bolder", "text": "The last shift"},
            {"type": "TextBlock", "wrap": True, "spacing": "None",
             "text": f"Since {{{{DATE({since_text}, SHORT)}}}} {{{{TIME({since_text})}}}}: "
                     f"{happened}."},
        ],
    }


class Handoffs:
    def __init__(self, db: SqlBackend, schedules: Schedules,
                 wake: asyncio.Event | None = None) -> None:
        self._db = db
        self._schedules = schedules
        self._alerts = AlertStore(db)
        self._audit = AuditLog(db)
        self._outbox = Outbox(db)
        self._registry = ConversationRegistry(db)
        self._wake = wake
        self._unreachable: set[str] = set()  # handoffs already logged as unreachable

    async def check(self, now: datetime) -> int:
        """Greet every handoff of the last `GRACE` not greeted yet; how many were."""
        done = 0
        for schedule in self._schedules:
            shift = self._schedules.shift(schedule.name, now)
            if shift.person is None or shift.since is None or now - shift.since > GRACE:
                continue
            before = self._schedules.shift(schedule.name, shift.since - timedelta(seconds=1))
            if before.person == shift.person:
                continue  # the same person goes on (a rotation of one, an override of oneself)
            if await self._greet(schedule.name, shift, now):
                done += 1
        if done and self._wake is not None:
            self._wake.set()
        return done

    async def _chat_of(self, person: str) -> Conversation | None:
        for conversation in await self._registry.list_conversations():
            if (conversation.scope is Scope.PERSONAL and conversation.status is Status.ACTIVE
                    and (conversation.user_aad_object_id or "").lower() == person.lower()):
                return conversation
        return None

    async def _greet(self, name: str, shift: Shift, now: datetime) -> bool:
        assert shift.person is not None and shift.since is not None
        step_id = f"handoff:{name}:{shift.since.isoformat()}:{shift.person}"
        if await self._audit.has(step_id):
            return False
        chat = await self._chat_of(shift.person)
        if chat is None:
            if step_id not in self._unreachable:
                self._unreachable.add(step_id)
                log.warning("The handoff of %s to %s has no chat to go to (the bot is not "
                            "installed for them yet)", name, shift.person)
            return False
        before = self._schedules.shift(name, shift.since - timedelta(seconds=1))
        # In UTC: the card's {{DATE()}} and the audit trail's stored times are UTC.
        since = shift.since.astimezone(UTC)
        last_since = (before.since or shift.since - timedelta(days=1)).astimezone(UTC)
        # What the person may see: the incidents their chat was told of (the access rule).
        incidents = [summary_line(alert.incident) for alert in await self._alerts.open_alerts(
            (chat.tenant_id, chat.conversation_id))]
        counts = await self._audit.counts_between(last_since, since)
        zone = self._schedules.get(name)
        until = "further notice" if shift.until is None else (
            f"{shift.until.astimezone(zone.zone if zone else None):%a %d %b %H:%M %Z}")
        card = handoff_card(name, shift, self._schedules.display(before.person),
                            self._schedules.display(shift.person), incidents, counts,
                            last_since, until)
        activity = {"type": "message", "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]}
        payload = json.dumps({"activity": activity, "thread": ""}, sort_keys=True)
        event_id = "handoff-" + hashlib.sha256(step_id.encode()).hexdigest()[:24]
        entry = AuditEntry(action="handoff", at=now, actor=SYSTEM, tenant_id=chat.tenant_id,
                           conversation_id=chat.conversation_id, id=step_id,
                           detail=f"{name}: {self._schedules.display(before.person)} to "
                                  f"{self._schedules.display(shift.person)}")
        counts_done = await self._db.execute_atomically([
            AuditLog.statement(entry),
            *self._outbox.enqueue_statements([NewDelivery(
                event_id, "", chat.tenant_id, chat.conversation_id, Operation.REPLY, payload)],
                now)])
        if not counts_done[0]:
            return False
        log_entry(entry)
        return True

    async def step(self) -> float:
        """One run of the background job; the seconds until the next."""
        await self.check(utcnow())
        return CHECK_SECONDS
