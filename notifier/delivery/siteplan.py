"""Site events in the planner: the rows planned for the rooms of one site, folded into one site
card per conversation (the rules: notifier/alerts/sites.py; the card: sitecard.py).

After the planner has planned a batch of events (`Planned`, one per incident), `fold` takes the
incidents of rules with `site_by`. For a site with two or more rooms open at once (now or
before), in every conversation on the site card (`on_site_card`):
  a room's card rows    -> written done (the room is told there: its audience), and one row
                           for the site card instead: at once for a first post, a room opened
                           or more severe, or the end; else gathered for the update window
  a room's texts        -> dropped: its end is a line of the site card, its reminder one site
                           reminder per `repeat`; a critical breaking through a snooze keeps
                           its text (a page is never lost)
  activity-feed pages   -> kept (per room)
  a room card posted before the site event (the chat joins the site card now)
                        -> updated once, saying it is part of the site event
The end of the last room ends the site event: the site card is updated and a short text says so.
Everything is written in the planner's transaction, with the rooms' own changes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from common.times import by_zone
from common.wire import ActivityJson
from notifier.alerts.incidents import Change, Incident
from notifier.alerts.record import AlertRecord
from notifier.alerts.sites import (
    Key,
    Site,
    on_site_card,
    opens_site,
    room_line,
    site_group_key,
    site_id,
)
from notifier.alerts.store import AlertStore
from notifier.delivery.feed import FeedNotice, chain_id
from notifier.delivery.sitecard import (
    SITE_NOTE,
    site_page_line,
    site_reminder_text,
    site_resolved_text,
    site_summary,
    with_site_note,
)
from storage.audit import SYSTEM, AuditEntry, AuditLog
from storage.backend import SqlBackend, Statement
from storage.outbox import ESCALATION_PREFIXES, Delivery, NewDelivery, Operation, Outbox
from storage.sites import SITE_SOURCE, SiteStore

log = logging.getLogger(__name__)


@dataclass
class Planned:
    """One incident's change as the planner planned it, before it is written."""

    incident: Incident
    change: Change
    remind: bool
    items: list[NewDelivery]
    statements: list[Statement]
    audit: AuditEntry | None
    site: dict[str, str] | None  # the site tags of its events (None: none, or not said)
    paged: AuditEntry | None = None  # its critical card paging people (delivery/paging.py)


class SitePlanner:
    def __init__(self, db: SqlBackend, window: timedelta) -> None:
        self._alerts = AlertStore(db)
        self._store = SiteStore(db)
        self._outbox = Outbox(db)
        self._window = window

    async def fold(self, planned: list[Planned], now: datetime, muted: set[Key],
                   zones: Mapping[Key, str | None]) -> list[Statement]:
        """Fold the rooms of site events into site cards (changing `planned` in place); the
        statements that write the site events and their rows (`zones`: the time zone of
        personal chats' readers, for the times in texts)."""
        sites: dict[tuple[str, str, str], tuple[dict[str, str], list[Planned]]] = {}
        for item in planned:
            tags = item.site
            if tags is None and item.incident.group_key:
                # An event that does not say its site (a removed rule's end): the open site
                # event that lists the room, if any.
                owner = await self._store.site_of(item.incident.alert_id)
                record = await self._alerts.get(owner) if owner else None
                tags = dict(record.incident.series) if record else None
            if not tags or item.incident.kind == "test":
                continue
            key = (item.incident.source, item.incident.rule, site_group_key(tags))
            sites.setdefault(key, (tags, []))[1].append(item)
        statements: list[Statement] = []
        for (source, rule, _), (tags, group) in sites.items():
            statements += await self._fold_site(source, rule, tags, group, now, muted, zones)
        return statements

    async def _fold_site(self, source: str, rule: str, tags: dict[str, str],
                         group: list[Planned], now: datetime, muted: set[Key],
                         zones: Mapping[Key, str | None]) -> list[Statement]:
        batch = {p.incident.alert_id: p for p in group}
        lines = {r.alert_id: room_line(r.alert_id, r.incident, tags, True)
                 for r in map(AlertRecord.of, await self._store.open_incidents(source, rule))
                 if r.alert_id not in batch and all(
                     r.incident.series.get(k) == v for k, v in tags.items())}
        lines.update({i: room_line(i, p.incident.snapshot(), tags, p.incident.open)
                      for i, p in batch.items()})
        record = await self._alerts.open_incident(SITE_SOURCE, rule, site_group_key(tags))
        if record is None:
            if not opens_site(sum(line.open for line in lines.values())):
                return []
            first = group[0].incident
            site = Site(site_id(rule, tags, now), rule, dict(tags), now,
                        description=first.description, remind_every=first.remind_every,
                        last_reminded=now)
            site_told: set[Key] = set()
            acknowledged = False
        else:
            site = Site.from_record(record.alert_id, record.incident,
                                    await self._alerts.series_rows(record.alert_id))
            site_told = await self._alerts.audience(site.alert_id)
            acknowledged = record.acknowledged_by is not None
        dirty = {i for i in lines if i in batch or i not in site.rooms}
        site.rooms.update({i: lines[i] for i in dirty})
        worse, ended = site.settle(now)
        # A room that opens in a site event already acknowledged is new trouble: the site card
        # offers Acknowledge again (the rooms acknowledged before stay so).
        joined = record is not None and any(p.change is Change.OPENED for p in group)

        told = await self._store.told_of(sorted(site.rooms))
        for p in group:
            for item in p.items:
                if item.operation is Operation.CARD:
                    told.setdefault((item.tenant_id, item.conversation_id), set()).add(
                        p.incident.alert_id)
        open_rooms = {i for i, line in site.rooms.items() if line.open}
        chats = on_site_card(told, open_rooms, site_told) | site_told
        joining = chats - site_told

        statements: list[Statement] = []
        changed: set[Key] = set(chats) if ended else set(joining)
        urgent: set[Key] = set(chats) if ended or worse else set(joining)
        reminded: set[Key] = set()
        paged: dict[Key, FeedNotice] = {}
        for p in group:
            kept: list[NewDelivery] = []
            for item in p.items:
                key = (item.tenant_id, item.conversation_id)
                if (key in chats and item.operation is Operation.FEED
                        and p.change in (Change.OPENED, Change.ESCALATED)):
                    paged[key] = FeedNotice.from_json(item.payload)  # one page: the site's
                elif key not in chats or item.operation in (Operation.FEED, Operation.REPLY):
                    kept.append(item)
                elif item.operation is Operation.CARD:
                    statements += SiteStore.folded_statements(
                        item.event_id, p.incident.alert_id, [key], site.alert_id, now)
                    changed.add(key)
                    if p.change in (Change.OPENED, Change.ESCALATED):
                        urgent.add(key)
                elif p.change is Change.ESCALATED:  # through a snooze: a page, kept
                    kept.append(item)
                elif p.remind:
                    reminded.add(key)
            p.items = kept

        revision = hashlib.sha256(f"{site.alert_id}|{now.isoformat()}".encode()).hexdigest()[:24]
        rows: list[NewDelivery] = []
        # A room card posted before the chat joined the site card: updated once to say so.
        note = "site-note-" + revision
        rows += [NewDelivery(note, room, *key, Operation.CARD, SITE_NOTE + site.alert_id)
                 for room, key in sorted(await self._store.cards_of(sorted(site.rooms)))
                 if key in joining]
        pending = await self._outbox.pending_cards(site.alert_id, now)
        card_event = (ESCALATION_PREFIXES[1] if worse else "site-") + revision
        for key in sorted(changed):
            if key in pending:
                continue  # an update is waiting: it shows the site as it is when sent
            rows.append(NewDelivery(card_event, site.alert_id, *key, Operation.CARD,
                                    due=None if key in urgent else now + self._window))
        if urgent & pending:
            statements += self._outbox.expedite_statements(site.alert_id, urgent & pending, now)
        if ended:
            rows += [NewDelivery(card_event, site.alert_id, *key, Operation.TEXT,
                                 site_resolved_text(site)) for key in sorted(chats - muted)]
        rows += self._pages(site, paged, revision)
        if ended:
            rows += [NewDelivery("feed-" + revision, site.alert_id, *key, Operation.FEED,
                                 FeedNotice(notice.user_id, notice.chain_id,
                                            site_page_line(site), site_resolved_text(site),
                                            notice.web_url).to_json())
                     for key, notice in sorted(
                         (key, FeedNotice.from_json(payload)) for key, payload in
                         (await self._store.pages_of(site.alert_id)).items())]
        if reminded and not acknowledged and site.reminder_due(now):
            site.last_reminded = now
            rows += [NewDelivery("site-reminder-" + revision, site.alert_id, *key,
                                 Operation.TEXT, site_reminder_text(site, zone))
                     for zone, keys in by_zone(reminded - muted, zones).items()
                     for key in keys]

        statements += self._alerts.incident_statements(
            site.alert_id, SITE_SOURCE, rule, site.group_key, site.dumps(), site.open,
            clear_ack=worse or joined,
            series={i: json.dumps(site.rooms[i].to_json(), sort_keys=True) for i in dirty})
        if record is None or ended:
            entry = AuditEntry(
                action="site event began" if record is None else "site event ended", at=now,
                actor=SYSTEM, alert_id=site.alert_id,
                detail=f"{len(open_rooms) if record is None else len(site.rooms)} rooms")
            statements.append(AuditLog.statement(entry))
        statements += self._outbox.enqueue_statements(rows, now)
        log.info("Site event %s (%s, %s): %d rooms open of %d, %d chats on its card, "
                 "%d deliveries queued", site.alert_id[:8], rule,
                 ", ".join(site.tags.values()), len(open_rooms), len(site.rooms), len(chats),
                 len(rows))
        return statements


    @staticmethod
    def _pages(site: Site, paged: dict[Key, FeedNotice], revision: str) -> list[NewDelivery]:
        """Rooms of the site paging a person in this batch (critical): one page about the
        site instead, its own chain (its end replaces it). Never none: a page is not folded
        away, only the same moment's pages into one (20 rooms would be 20 pages a person, and
        Graph takes 5 a second)."""
        return [NewDelivery("feed-" + revision, site.alert_id, *key, Operation.FEED,
                            FeedNotice(notice.user_id, chain_id(site.alert_id),
                                       site_page_line(site), f"Critical: {site_summary(site)}",
                                       notice.web_url).to_json())
                for key, notice in sorted(paged.items())]


async def folded_here(alerts: AlertStore, delivery: Delivery, existing: str | None) -> bool:
    """Whether a room's card delivery is shown by a site card in its conversation instead
    (an action or escalation queued it; the room has no card of its own there)."""
    if existing or delivery.payload.startswith(SITE_NOTE):
        return False
    return await SiteStore(alerts.backend).site_showing(
        delivery.alert_id, (delivery.tenant_id, delivery.conversation_id)) is not None


async def noted(alerts: AlertStore, activity: ActivityJson, payload: str) -> ActivityJson:
    """A room card's message with the note that its room joined a site event."""
    site = await alerts.get(payload.removeprefix(SITE_NOTE))
    if site is None:
        return activity
    attachment = activity["attachments"][0]
    return {**activity, "attachments": [
        {**attachment, "content": with_site_note(attachment["content"], site)}]}
