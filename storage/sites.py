"""Site events in storage: which rooms of a site each conversation was told of, and the rooms a
site card shows there.

A site event is stored like an incident (a row of `alerts`, source `site`, its rooms as the
rows of `incident_series` keyed by the room incident's id: see notifier/alerts/sites.py).
A room folded into the site card of a conversation is *told* there like any incident (the
audience of storage/alerts.py), through a delivery written already done: the site card is
what shows it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from storage.alerts import Key, StoredAlert
from storage.backend import SqlBackend, Statement

SITE_SOURCE = "site"  # the `source` of a site event's row in `alerts`


class SiteStore:
    def __init__(self, db: SqlBackend) -> None:
        self._db = db

    async def told_of(self, alert_ids: Sequence[str]) -> dict[Key, set[str]]:
        """For each conversation, which of these incidents it was told of (a delivery not
        given up, or a card there)."""
        if not alert_ids:
            return {}
        marks = ", ".join("?" for _ in alert_ids)
        rows = await self._db.fetch_all(
            f"SELECT alert_id, tenant_id, conversation_id FROM deliveries WHERE alert_id IN "
            f"({marks}) AND status <> 'dead' UNION SELECT alert_id, tenant_id, conversation_id "
            f"FROM alert_cards WHERE alert_id IN ({marks})", (*alert_ids, *alert_ids))
        told: dict[Key, set[str]] = {}
        for row in rows:
            told.setdefault((row["tenant_id"], row["conversation_id"]), set()).add(
                row["alert_id"])
        return told

    async def open_incidents(self, source: str, rule: str) -> list[StoredAlert]:
        """The open incidents of one rule (the rooms a site event may hold)."""
        rows = await self._db.fetch_all(
            "SELECT alert_id, rule, event FROM alerts WHERE is_open = 1 AND source = ? AND "
            "rule = ? AND group_key IS NOT NULL", (source, rule))
        return [StoredAlert(row["alert_id"], row["rule"], row["event"], None, None, True)
                for row in rows]

    async def cards_of(self, alert_ids: Sequence[str]) -> set[tuple[str, Key]]:
        """The (incident, conversation) pairs where these incidents have a card."""
        if not alert_ids:
            return set()
        marks = ", ".join("?" for _ in alert_ids)
        rows = await self._db.fetch_all(
            f"SELECT alert_id, tenant_id, conversation_id FROM alert_cards WHERE alert_id IN "
            f"({marks})", tuple(alert_ids))
        return {(row["alert_id"], (row["tenant_id"], row["conversation_id"])) for row in rows}

    async def rooms_told_here(self, site_id: str, where: Key) -> set[str]:
        """The rooms of a site the conversation `where` was told of (its site card shows
        only those)."""
        tenant, conversation = where
        rows = await self._db.fetch_all(
            "SELECT s.series_key AS room FROM incident_series s WHERE s.alert_id = ? AND "
            "s.series_key IN (SELECT alert_id FROM deliveries WHERE tenant_id = ? AND "
            "conversation_id = ? AND status <> 'dead' UNION SELECT alert_id FROM alert_cards "
            "WHERE tenant_id = ? AND conversation_id = ?)",
            (site_id, tenant, conversation, tenant, conversation))
        return {row["room"] for row in rows}

    async def site_showing(self, room_id: str, where: Key) -> str | None:
        """The site event whose card shows this room in the conversation `where` (the site
        was told there), if any."""
        tenant, conversation = where
        row = await self._db.fetch_one(
            "SELECT a.alert_id FROM alerts a WHERE a.is_open IN (0, 1) AND a.source = ? AND "
            "EXISTS (SELECT 1 FROM "
            "incident_series s WHERE s.alert_id = a.alert_id AND s.series_key = ?) AND (EXISTS "
            "(SELECT 1 FROM alert_cards k WHERE k.alert_id = a.alert_id AND k.tenant_id = ? "
            "AND k.conversation_id = ?) OR EXISTS (SELECT 1 FROM deliveries d WHERE "
            "d.alert_id = a.alert_id AND d.tenant_id = ? AND d.conversation_id = ? AND "
            "d.status <> 'dead')) ORDER BY a.created_at DESC LIMIT 1",
            (SITE_SOURCE, room_id, tenant, conversation, tenant, conversation))
        return row["alert_id"] if row else None

    async def site_of(self, room_id: str) -> str | None:
        """The open site event that lists this room."""
        row = await self._db.fetch_one(
            "SELECT a.alert_id FROM alerts a WHERE a.source = ? AND a.is_open = 1 AND EXISTS "
            "(SELECT 1 FROM incident_series s WHERE s.alert_id = a.alert_id AND "
            "s.series_key = ?) ORDER BY a.created_at DESC LIMIT 1", (SITE_SOURCE, room_id))
        return row["alert_id"] if row else None

    async def pages_of(self, alert_id: str) -> dict[Key, str]:
        """The activity-feed pages sent about an alert, by conversation (the latest's payload:
        its end replaces it)."""
        rows = await self._db.fetch_all(
            "SELECT tenant_id, conversation_id, payload FROM deliveries WHERE alert_id = ? AND "
            "operation = 'feed' ORDER BY created_at", (alert_id,))
        return {(row["tenant_id"], row["conversation_id"]): row["payload"] for row in rows}

    @staticmethod
    def folded_statements(event_id: str, room_id: str, keys: Iterable[Key],
                          site_id: str, now: datetime) -> list[Statement]:
        """The room told in these conversations through the site card: deliveries written
        done (nothing to send; they make the room's audience, like any delivery)."""
        stamp = now.isoformat()
        return [(
            "INSERT INTO deliveries (id, event_id, alert_id, tenant_id, conversation_id, "
            "operation, payload, status, attempts, next_attempt_at, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, 'card', ?, 'done', 0, ?, ?, ?) "
            "ON CONFLICT (event_id, tenant_id, conversation_id, operation) DO NOTHING",
            (uuid.uuid4().hex, event_id, room_id, tenant, conversation, f"site:{site_id}",
             stamp, stamp, stamp)) for tenant, conversation in sorted(set(keys))]
