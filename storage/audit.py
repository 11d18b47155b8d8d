"""The audit trail: who did what to which alert (or conversation), where and when.

Every action people take (acknowledge, undo, snooze, unsnooze, mute, unmute, subscribe,
unsubscribe, an Alertmanager silence made or expired from a card) and every step of an incident
(fired, became critical, paged, escalated, resolved) is one row here and one INFO log line
(`log_entry`). Rows are kept `AUDIT_RETENTION_DAYS` and pruned.
An entry with a chosen id is written at most once (`ON CONFLICT DO NOTHING`): the escalation of
a critical episode uses that to happen once among restarts and replicas.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from storage.backend import Row, SqlBackend, Statement

log = logging.getLogger("heatwatch.audit")

SYSTEM = "HeatWatch"  # the actor of what the bot does on its own


@dataclass(frozen=True)
class AuditEntry:
    action: str  # acknowledged, unacknowledged, snoozed, unsnoozed, muted, unmuted, ...
    at: datetime
    actor: str
    tenant_id: str = ""
    conversation_id: str = ""
    alert_id: str | None = None
    detail: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


def _entry(row: Row) -> AuditEntry:
    return AuditEntry(action=row["action"], at=datetime.fromisoformat(row["at"]),
                      actor=row["actor"], tenant_id=row["tenant_id"],
                      conversation_id=row["conversation_id"], alert_id=row["alert_id"],
                      detail=row["detail"], id=row["id"])


def log_entry(entry: AuditEntry) -> None:
    """The entry as one INFO log line."""
    log.info("Audit: %s%s by %s in %s%s", entry.action,
             f" {entry.alert_id[:8]}" if entry.alert_id else "", entry.actor,
             entry.conversation_id or "-", f" ({entry.detail})" if entry.detail else "")


class AuditLog:
    def __init__(self, db: SqlBackend) -> None:
        self._db = db

    @staticmethod
    def statement(entry: AuditEntry) -> Statement:
        return (
            "INSERT INTO audit_events (id, at, action, alert_id, tenant_id, conversation_id, "
            "actor, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (entry.id, entry.at.isoformat(), entry.action, entry.alert_id, entry.tenant_id,
             entry.conversation_id, entry.actor, entry.detail))

    async def record(self, entry: AuditEntry) -> None:
        await self._db.execute(*self.statement(entry))
        log_entry(entry)

    async def has(self, entry_id: str) -> bool:
        return await self._db.fetch_one(
            "SELECT 1 AS found FROM audit_events WHERE id = ?", (entry_id,)) is not None

    async def of_alert(self, alert_id: str) -> list[AuditEntry]:
        rows = await self._db.fetch_all(
            "SELECT * FROM audit_events WHERE alert_id = ? ORDER BY at, id", (alert_id,))
        return [_entry(row) for row in rows]

    async def first(self, alert_ids: list[str], action: str) -> dict[str, AuditEntry]:
        """The first entry of `action` for each of these alerts."""
        if not alert_ids:
            return {}
        rows = await self._db.fetch_all(
            "SELECT * FROM audit_events WHERE action = ? AND alert_id IN ("
            + ", ".join("?" for _ in alert_ids) + ") ORDER BY at DESC, id DESC",
            [action, *alert_ids])
        return {row["alert_id"]: _entry(row) for row in rows}  # the earliest wins

    async def counts_between(self, start: datetime, end: datetime) -> dict[str, int]:
        """How many entries of each action were made from `start` to before `end`."""
        rows = await self._db.fetch_all(
            "SELECT action, COUNT(*) AS n FROM audit_events WHERE at >= ? AND at < ? "
            "GROUP BY action", (start.isoformat(), end.isoformat()))
        return {row["action"]: int(row["n"]) for row in rows}

    async def prune(self, before: datetime) -> int:
        return await self._db.execute("DELETE FROM audit_events WHERE at < ?",
                                      (before.isoformat(),))
