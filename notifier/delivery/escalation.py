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
from datetime import datetime

from common.clock import utcnow
from common.durations import duration_words
from notifier.alerts.events import Severity
from notifier.alerts.record import AlertRecord
from notifier.alerts.routing import (
    Escalation,
    Escalations,
    Step,
    mentioned_users,
    resolve_targets,
)
from notifier.alerts.store import AlertStore
from notifier.delivery.cards import escalation_text, note_payload
from notifier.delivery.feed import notice_line, page_rows, people_of
from notifier.delivery.paging import ESCALATED, Reach, reach_unreached, step_detail
from storage.audit import SYSTEM, AuditEntry, AuditLog, log_entry
from storage.backend import SqlBackend
from storage.models import Conversation, Scope, Status
from storage.outbox import ESCALATION_PREFIXES, NewDelivery, Operation, Outbox
from storage.preferences import Preferences
from storage.registry import ConversationRegistry

log = logging.getLogger(__name__)

CHECK_SECONDS = 15.0  # how often unacknowledged criticals are checked


def _name(conversation: Conversation) -> str:
    if conversation.scope is Scope.PERSONAL:
        return conversation.user_name or "a personal chat"
    if conversation.scope is Scope.CHANNEL:
        return f"{conversation.team_name or 'a team'} › {conversation.channel_name or 'General'}"
    return "a group chat"


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
        self._escalations = escalations
        self._wake = wake

    async def check(self, now: datetime) -> int:
        """Escalate every critical incident that waited too long; how many were escalated."""
        done = 0
        for alert in await self._alerts.open_alerts():
            if await self._escalate(alert, now):
                done += 1
        if done and self._wake is not None:
            self._wake.set()
        return done

    async def _escalate(self, alert: AlertRecord, now: datetime) -> bool:
        event = alert.incident
        since = event.critical_since
        if event.severity is not Severity.CRIT or alert.acknowledged_by or since is None:
            return False
        policy = self._escalations.escalation_for(event.source, alert.rule, event.series)
        if policy is None:
            return False
        since_text = since.isoformat()  # names the episode in the steps' ids
        waited = (now - since).total_seconds()
        done = False
        for number, step in policy.due(waited):
            # The first step keeps the id it had before policies had steps (an upgrade in the
            # middle of a wait does not escalate twice).
            step_id = f"escalated:{alert.alert_id}:{since_text}" + (f":{number}" if number
                                                                     else "")
            if await self._audit.has(step_id):
                continue
            if await self._take(alert, policy, number, step, step_id, waited, now):
                done = True
        return done

    async def _take(self, alert: AlertRecord, policy: Escalation, number: int, step: Step,
                    step_id: str, waited: float, now: datetime) -> bool:
        """One step of `policy`: its targets get the card and everyone told gets the note;
        False when another replica took it first."""
        event = alert.incident
        conversations = await self._registry.list_conversations()
        if await reach_unreached(self._reach, step.targets, conversations):
            conversations = await self._registry.list_conversations()
        muted = await self._preferences.muted(min(now, utcnow()))
        active = {(c.tenant_id, c.conversation_id): c for c in conversations
                  if c.status is Status.ACTIVE and (c.tenant_id, c.conversation_id) not in muted}
        targets = resolve_targets(step.targets, conversations,
                                  await self._registry.list_alert_targets()) & set(active)
        told = await self._alerts.audience(alert.alert_id) & set(active)
        people = mentioned_users(step.targets)
        known = await self._registry.people(people)
        # Teams mentions name a person by their Teams user id when the bot saw them (a team
        # or group chat member), else by the AAD object id.
        mentions = [{"id": known[aad.lower()][1] if aad.lower() in known else aad,
                     "name": (known.get(aad.lower()) or ("", ""))[0] or "on call"}
                    for aad in people]
        told_names = sorted({_name(active[key]) for key in targets} | {
            m["name"] for m in mentions if m["name"] != "on call"})
        text = escalation_text(event, waited, told_names)
        event_id = ESCALATION_PREFIXES[0] + hashlib.sha256(step_id.encode()).hexdigest()[:24]
        items: list[NewDelivery] = []
        # The step's targets get the card; where it was told already, the card is updated
        # in place: it says who this step paged (paging.py).
        for key in sorted(targets | told):
            items.append(NewDelivery(event_id, alert.alert_id, *key, Operation.CARD))
        for key in sorted(targets | told):
            scope = active[key].scope
            payload = note_payload(text, mentions if scope is not Scope.PERSONAL else [])
            items.append(NewDelivery(event_id, alert.alert_id, *key, Operation.TEXT, payload))
        if self._feed_link is not None:
            items += page_rows(event_id, alert.alert_id, targets, people_of(active.values()),
                               notice_line(event), text, self._feed_link)
        sent_at = min(now, utcnow())  # `now` may be a test's future: deliveries are due now
        entry = AuditEntry(action=ESCALATED, at=sent_at, actor=SYSTEM, alert_id=alert.alert_id,
                           detail=step_detail(number, policy, duration_words(waited), told_names),
                           id=step_id)
        counts = await self._db.execute_atomically([
            AuditLog.statement(entry),
            *self._outbox.expedite_statements(alert.alert_id, targets | told, sent_at),
            *self._outbox.enqueue_statements(items, sent_at)])
        if not counts[0]:
            return False  # another replica was quicker; its rows are the same, so nothing new
        log_entry(entry)
        if not targets:
            log.warning("Escalation of %s reached none of %s (not installed there, or nobody "
                        "on call?)", alert.alert_id[:8], ", ".join(step.targets) or "no target")
        return True

    async def step(self) -> float:
        """One run of the background job; the seconds until the next."""
        await self.check(utcnow())
        return CHECK_SECONDS
