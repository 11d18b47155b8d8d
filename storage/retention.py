"""Retention: what only grows is deleted once it is old enough (issue #24), in bounded batches.

  deliveries       sent (`done`) or given up (`dead`), `delivery_age` after they finished;
                   pending ones never, nor those of an open incident (they say which chats were
                   told, and so get its updates and its end, however long it stays open), nor
                   those of a room on an open site event's card (they say where it shows);
                   but of those, a finished row with a newer sent one of the same alert, chat
                   and kind goes (the newer one says as much: live updates add one a minute)
  alerts           resolved incidents (`is_open = 0`), `incident_age` after their last change,
                   unless a delivery of theirs is still pending; with them their cards
                   (`alert_cards`), series (`incident_series`) and silences (`alert_silences`).
                   Alerts recorded before incidents (`group_key` NULL, open or not by their
                   event) are left alone, with their deliveries: few, and never written again.
  alert_cards      also any whose alert is gone (written after a resolved alert was pruned)
  reactions        `reaction_age` after they were made

The audit trail keeps its own period (`AuditLog.prune`, AUDIT_RETENTION_DAYS): `history` and
the incident's trail outlive its card. Each batch deletes at most `batch` rows in its own short
transaction and the pruner yields between batches, so sends (which take the same SQLite
connection or PostgreSQL rows) wait at most one batch. Deleting the same rows from several
replicas at once is harmless (a row is deleted once), so every replica prunes; no leader is
needed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.backend import SqlBackend
from storage.sites import SITE_SOURCE

log = logging.getLogger(__name__)

# Tables reported by row count on /metrics (those that grow with traffic, and the registry).
COUNTED_TABLES = ("deliveries", "alerts", "alert_cards", "incident_series", "reactions",
                  "audit_events", "conversations", "handled_activities", "inbound_seen",
                  "alert_state", "snoozes")


@dataclass(frozen=True)
class RetentionPeriods:
    delivery_age: timedelta = timedelta(hours=24)
    incident_age: timedelta = timedelta(days=30)
    reaction_age: timedelta = timedelta(days=30)


class Retention:
    def __init__(self, db: SqlBackend, periods: RetentionPeriods = RetentionPeriods(),
                 batch: int = 500, pause: float = 0.01) -> None:
        self._db = db
        self._periods = periods
        self._batch = batch
        self._pause = pause

    async def prune(self, now: datetime) -> dict[str, int]:
        """Delete everything older than its period; rows deleted per table."""
        deleted: dict[str, int] = {}
        delivery_horizon = (now - self._periods.delivery_age).isoformat()
        # next_attempt_at <= updated_at for a finished delivery (it was due when sent), so the
        # (status, next_attempt_at) index narrows the search; updated_at decides.
        deleted["deliveries"] = await self._batches(
            "DELETE FROM deliveries WHERE id IN (SELECT d.id FROM deliveries d "
            "WHERE d.status IN ('done', 'dead') AND d.next_attempt_at < ? AND d.updated_at < ? "
            "AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.alert_id = d.alert_id "
            "AND (a.is_open = 1 OR a.group_key IS NULL)) "
            # a room on an open site event's card: its rows say which chats it shows in
            # (driven from the few open site events by index, then incident_series' key)
            "AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.is_open = 1 AND a.source = ? AND "
            "EXISTS (SELECT 1 FROM incident_series s WHERE s.alert_id = a.alert_id AND "
            "s.series_key = d.alert_id)) "
            "LIMIT ?)",
            (delivery_horizon, delivery_horizon, SITE_SOURCE))
        # Of an open incident, a finished row that a newer sent one of the same kind in the
        # same chat stands for: the newer one still says the chat was told (a card updated
        # with every minute's readings adds a row a minute for as long as it stays open). Only
        # a sent one: a pending one may yet be given up, and a given-up row says nothing.
        deleted["deliveries"] += await self._batches(
            "DELETE FROM deliveries WHERE id IN (SELECT d.id FROM deliveries d "
            "WHERE d.status IN ('done', 'dead') AND d.next_attempt_at < ? AND d.updated_at < ? "
            "AND d.alert_id <> '' AND EXISTS (SELECT 1 FROM deliveries e WHERE "
            "e.tenant_id = d.tenant_id AND e.conversation_id = d.conversation_id AND "
            "e.status = 'done' AND e.created_at > d.created_at AND e.alert_id = d.alert_id "
            "AND e.operation = d.operation) LIMIT ?)",
            (delivery_horizon, delivery_horizon))
        deleted.update(await self._prune_incidents(now - self._periods.incident_age))
        reaction_horizon = (now - self._periods.reaction_age).isoformat()
        deleted["reactions"] = await self._batches(
            "DELETE FROM reactions WHERE (tenant_id, conversation_id, message_id, user_id, "
            "reaction_type) IN (SELECT tenant_id, conversation_id, message_id, user_id, "
            "reaction_type FROM reactions WHERE created_at < ? LIMIT ?)", (reaction_horizon,))
        return {table: count for table, count in deleted.items() if count}

    async def _prune_incidents(self, before: datetime) -> dict[str, int]:
        horizon = before.isoformat()
        totals = {"alerts": 0, "alert_cards": 0, "incident_series": 0, "alert_silences": 0}
        while True:
            rows = await self._db.fetch_all(
                "SELECT a.alert_id FROM alerts a WHERE a.is_open = 0 AND a.updated_at < ? "
                "AND a.group_key IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.status = 'pending' "
                "AND d.alert_id = a.alert_id) LIMIT ?", (horizon, self._batch))
            ids = [row["alert_id"] for row in rows]
            if not ids:
                break
            marks = ", ".join("?" for _ in ids)
            counts = await self._db.execute_atomically([
                (f"DELETE FROM alert_cards WHERE alert_id IN ({marks})", ids),
                (f"DELETE FROM incident_series WHERE alert_id IN ({marks})", ids),
                (f"DELETE FROM alert_silences WHERE alert_id IN ({marks})", ids),
                (f"DELETE FROM alerts WHERE alert_id IN ({marks}) AND is_open = 0 "
                 "AND group_key IS NOT NULL", ids),
            ])
            for table, count in zip(("alert_cards", "incident_series", "alert_silences",
                                     "alerts"), counts, strict=True):
                totals[table] += count
            if len(ids) < self._batch:
                break
            await asyncio.sleep(self._pause)
        totals["alert_cards"] += await self._batches(
            "DELETE FROM alert_cards WHERE (alert_id, tenant_id, conversation_id) IN ("
            "SELECT c.alert_id, c.tenant_id, c.conversation_id FROM alert_cards c "
            "WHERE c.updated_at < ? AND NOT EXISTS (SELECT 1 FROM alerts a "
            "WHERE a.alert_id = c.alert_id) LIMIT ?)", (horizon,))
        return totals

    async def _batches(self, sql: str, params: tuple[str, ...]) -> int:
        total = 0
        while True:
            count = await self._db.execute(sql, (*params, self._batch))
            total += count
            if count < self._batch:
                return total
            await asyncio.sleep(self._pause)


async def table_rows(db: SqlBackend, tables: tuple[str, ...] = COUNTED_TABLES) -> dict[str, int]:
    """Rows per table, exact (`COUNT(*)`): one query for all of them, read at scrape time.
    Retention keeps the big tables bounded, so an exact count stays cheap enough."""
    sql = " UNION ALL ".join(f"SELECT '{table}' AS name, COUNT(*) AS n FROM {table}"
                             for table in tables)
    rows = await db.fetch_all(sql)
    return {row["name"]: int(row["n"]) for row in rows}
