"""The durable delivery outbox: every (alert event, conversation, operation) is written before it
is sent and marked done only after the connector accepted it.

A claim takes at most one delivery per conversation, and none from a conversation that has one
in flight anywhere (Teams' per-conversation limits are kept per replica). Within a
conversation, deliveries of one alert (its card, its notes) go strictly in the order they were
queued; across alerts the oldest goes first, except that an urgent delivery (a first post of an
incident's card there, or an escalation) overtakes other alerts' queued updates and notes, so a
new incident is never held behind old ones (issue #24). Claims are leased; the owner renews
its leases while it is alive (`renew`) and gives them back when it stops (`release`), so the
lease length is only how long a dead replica's deliveries wait. At most one duplicate can
follow a crash between the connector's answer and the `complete()` write.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from storage.backend import Row, SqlBackend, Statement

# Event ids of escalations: the escalation step's (notifier/delivery/escalation.py) and an
# incident's change to a higher severity (notifier/delivery/planner.py).
ESCALATION_PREFIXES = ("escalation-", "escalated-")
_OLDER = "(e.created_at < d.created_at OR (e.created_at = d.created_at AND e.id < d.id))"
# Urgent: a first post of an incident's card in the conversation (no card there yet), or any
# delivery of an alert with an escalation pending in the conversation (the escalation's own
# card's earlier updates go first: one card's deliveries keep their order). It overtakes other
# alerts' queued deliveries in the conversation. An activity-feed page is urgent too (it is
# there to reach a phone now).
URGENT = ("(CASE WHEN d.operation = 'feed' OR (d.operation = 'card' AND NOT EXISTS "
          "(SELECT 1 FROM alert_cards k WHERE k.alert_id = d.alert_id "
          "AND k.tenant_id = d.tenant_id AND k.conversation_id = d.conversation_id)) "
          "OR EXISTS (SELECT 1 FROM deliveries x "
          "WHERE x.tenant_id = d.tenant_id AND x.conversation_id = d.conversation_id "
          "AND x.alert_id = d.alert_id AND x.status = 'pending' AND ("
          + " OR ".join(f"x.event_id LIKE '{prefix}%'" for prefix in ESCALATION_PREFIXES)
          + ")) THEN 1 ELSE 0 END)")


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    DEAD = "dead"


class Operation(StrEnum):
    CARD = "card"  # make the alert's card in the conversation show its current state
    TEXT = "text"  # post a short text message (payload)
    REPLY = "reply"  # post a whole message (payload: {"activity", "thread"}), e.g. a chat
    #                  command's answer that could not be sent during its turn
    FEED = "feed"  # page a person through their Teams activity feed (Microsoft Graph)


@dataclass(frozen=True)
class NewDelivery:
    event_id: str
    alert_id: str
    tenant_id: str
    conversation_id: str
    operation: Operation
    payload: str = ""
    due: datetime | None = None  # not before this (an update gathering changes); None: now


@dataclass(frozen=True)
class Delivery:
    id: str
    event_id: str
    alert_id: str
    tenant_id: str
    conversation_id: str
    operation: Operation
    payload: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime


def _delivery(row: Row) -> Delivery:
    return Delivery(
        id=row["id"], event_id=row["event_id"], alert_id=row["alert_id"],
        tenant_id=row["tenant_id"], conversation_id=row["conversation_id"],
        operation=Operation(row["operation"]), payload=row["payload"],
        status=DeliveryStatus(row["status"]), attempts=int(row["attempts"]),
        next_attempt_at=datetime.fromisoformat(row["next_attempt_at"]),
        last_error=row["last_error"], created_at=datetime.fromisoformat(row["created_at"]),
    )


class Outbox:
    def __init__(self, db: SqlBackend) -> None:
        self._db = db

    def enqueue_statements(self, items: Sequence[NewDelivery], now: datetime,
                           only_if: Statement | None = None) -> list[Statement]:
        """INSERTs that are no-ops for a delivery already there (idempotent re-publish), and,
        with `only_if`, unless that query has a row in the same transaction. Creation times
        increase by a microsecond per item to keep their order."""
        condition, condition_params = only_if or ("SELECT 1", ())
        statements: list[Statement] = []
        for index, item in enumerate(items):
            stamp = (now + timedelta(microseconds=index)).isoformat()
            statements.append((
                "INSERT INTO deliveries (id, event_id, alert_id, tenant_id, conversation_id, "
                "operation, payload, status, attempts, next_attempt_at, created_at, updated_at) "
                f"SELECT ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ? WHERE EXISTS ({condition}) "
                "ON CONFLICT (event_id, tenant_id, conversation_id, operation) DO NOTHING",
                (uuid.uuid4().hex, item.event_id, item.alert_id, item.tenant_id,
                 item.conversation_id, item.operation.value, item.payload,
                 (item.due or now).isoformat(), stamp, stamp, *condition_params),
            ))
        return statements

    async def enqueue(self, items: Sequence[NewDelivery], now: datetime,
                      extra: Sequence[Statement] = ()) -> None:
        await self._db.execute_atomically([*extra, *self.enqueue_statements(items, now)])

    async def claim(self, owner: str, now: datetime, limit: int, lease: float,
                    exclude: set[tuple[str, str]] = frozenset(),  # type: ignore[assignment]
                    urgent_only: bool = False) -> list[Delivery]:
        """Lease up to `limit` due deliveries, at most one per conversation, urgent ones first
        (see the module docstring; with `urgent_only`, no others), skipping conversations in
        `exclude` (in flight here) and those with a delivery leased anywhere.

        One statement: candidates are chosen and leased atomically. On PostgreSQL the
        candidates are locked with `FOR UPDATE SKIP LOCKED`, so replicas claiming at the same
        moment take different rows instead of waiting for each other; the lease condition
        is checked again on the locked row, so no delivery is ever leased twice. The choice
        is a CTE, which PostgreSQL evaluates once: as an `IN (subquery)` the planner may run
        it again per row, and with SKIP LOCKED each run can pick other rows (more than
        `limit` were leased that way).
        """
        stamp = now.isoformat()
        excluded = ""
        params: list[object] = [stamp, stamp, stamp]
        if exclude:
            excluded = ("AND (d.tenant_id, d.conversation_id) NOT IN (VALUES "
                        + ", ".join("(?, ?)" for _ in exclude) + ")")
            for tenant, conversation in sorted(exclude):
                params += [tenant, conversation]
        params += [limit, (now + timedelta(seconds=lease)).isoformat(), owner, stamp]
        lock = "FOR UPDATE OF d SKIP LOCKED" if self._db.shared else ""
        rows = await self._db.fetch_all(
            f"""
            WITH candidates AS (
              SELECT d.id, d.tenant_id, d.conversation_id, d.created_at, {URGENT} AS urgent
              FROM deliveries d
              WHERE d.status = 'pending' AND d.next_attempt_at <= ?
                AND (d.lease_until IS NULL OR d.lease_until < ?)
                AND NOT EXISTS (
                  SELECT 1 FROM deliveries e
                  WHERE e.tenant_id = d.tenant_id AND e.conversation_id = d.conversation_id
                    AND e.status = 'pending' AND e.lease_until >= ?)
                AND NOT EXISTS (
                  SELECT 1 FROM deliveries e
                  WHERE e.tenant_id = d.tenant_id AND e.conversation_id = d.conversation_id
                    AND e.status = 'pending' AND e.alert_id = d.alert_id
                    AND {_OLDER})
                {excluded}),
            ranked AS (
              SELECT c.id, c.urgent, ROW_NUMBER() OVER (
                       PARTITION BY c.tenant_id, c.conversation_id
                       ORDER BY c.urgent DESC, c.created_at, c.id) AS place
              FROM candidates c
              WHERE c.urgent = 1 OR NOT EXISTS (
                SELECT 1 FROM deliveries e
                WHERE e.tenant_id = c.tenant_id AND e.conversation_id = c.conversation_id
                  AND e.status = 'pending'
                  AND (e.created_at < c.created_at
                       OR (e.created_at = c.created_at AND e.id < c.id)))),
            picked AS (
              SELECT d.id FROM deliveries d JOIN ranked r ON r.id = d.id
              WHERE r.place = 1 {"AND r.urgent = 1" if urgent_only else ""}
              ORDER BY r.urgent DESC, d.created_at, d.id
              LIMIT ?
              {lock})
            UPDATE deliveries SET lease_until = ?, lease_owner = ?
            WHERE id IN (SELECT id FROM picked)
              AND status = 'pending' AND (lease_until IS NULL OR lease_until < ?)
            RETURNING *
            """,
            params,
        )
        return sorted((_delivery(row) for row in rows), key=lambda d: (d.created_at, d.id))

    async def renew(self, owner: str, now: datetime, lease: float) -> int:
        """Extend the leases `owner` holds (it is alive); one that lapsed and was taken by
        another owner meanwhile stays theirs."""
        return await self._db.execute(
            "UPDATE deliveries SET lease_until = ? WHERE lease_owner = ? AND status = 'pending' "
            "AND lease_until IS NOT NULL", ((now + timedelta(seconds=lease)).isoformat(), owner))

    async def release(self, owner: str, ids: Iterable[str] | None = None) -> int:
        """Give back `owner`'s leases (those of `ids`, or all): claimable by anyone at once."""
        sql = ("UPDATE deliveries SET lease_until = NULL WHERE lease_owner = ? "
               "AND status = 'pending' AND lease_until IS NOT NULL")
        if ids is None:
            return await self._db.execute(sql, (owner,))
        total = 0
        chosen = sorted(ids)
        for start in range(0, len(chosen), 500):
            chunk = chosen[start:start + 500]
            total += await self._db.execute(
                sql + " AND id IN (" + ", ".join("?" for _ in chunk) + ")", [owner, *chunk])
        return total

    async def pending_cards(self, alert_id: str, now: datetime) -> set[tuple[str, str]]:
        """Conversations where an update of this alert's card is already waiting: it will
        show the alert as it is when sent, so nothing more needs queueing there. One that a
        worker holds (leased) may already have been rendered from an older state: it does
        not count."""
        rows = await self._db.fetch_all(
            "SELECT DISTINCT tenant_id, conversation_id FROM deliveries WHERE alert_id = ? "
            "AND operation = 'card' AND status = 'pending' "
            "AND (lease_until IS NULL OR lease_until < ?)", (alert_id, now.isoformat()))
        return {(row["tenant_id"], row["conversation_id"]) for row in rows}

    async def paged(self, alert_id: str) -> set[tuple[str, str]]:
        """Conversations whose person was paged through the activity feed about this alert."""
        rows = await self._db.fetch_all(
            "SELECT DISTINCT tenant_id, conversation_id FROM deliveries WHERE alert_id = ? "
            "AND operation = 'feed'", (alert_id,))
        return {(row["tenant_id"], row["conversation_id"]) for row in rows}

    def expedite_statements(self, alert_id: str, keys: Iterable[tuple[str, str]],
                            now: datetime) -> list[Statement]:
        """Card updates still gathering changes go out now: this alert's (an escalation or
        the end), and any other alert's in `keys`, the conversations about to get an urgent
        message (deliveries in a conversation go in order, so a waiting one would hold it
        up). Retries waiting out a backoff (attempts > 0) keep their time."""
        stamp = now.isoformat()
        waiting = ("UPDATE deliveries SET next_attempt_at = ? WHERE operation = 'card' AND "
                   "status = 'pending' AND attempts = 0 AND next_attempt_at > ?")
        statements: list[Statement] = [(waiting + " AND alert_id = ?", (stamp, stamp, alert_id))]
        pairs = sorted(set(keys))
        for start in range(0, len(pairs), 500):
            chunk = pairs[start:start + 500]
            statements.append((
                waiting + " AND (tenant_id, conversation_id) IN (VALUES "
                + ", ".join("(?, ?)" for _ in chunk) + ")",
                [stamp, stamp, *(value for pair in chunk for value in pair)]))
        return statements

    async def complete(self, delivery_id: str, now: datetime,
                       extra: Sequence[Statement] = ()) -> None:
        await self._db.execute_atomically([
            *extra,
            ("UPDATE deliveries SET status = 'done', lease_until = NULL, updated_at = ?, "
             "attempts = attempts + 1 WHERE id = ?", (now.isoformat(), delivery_id)),
        ])

    async def retry(self, delivery_id: str, at: datetime, error: str, now: datetime) -> None:
        await self._db.execute(
            "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?, "
            "lease_until = NULL, last_error = ?, updated_at = ? WHERE id = ?",
            (at.isoformat(), error[:500], now.isoformat(), delivery_id),
        )

    async def park(self, delivery_id: str, reason: str, now: datetime,
                   extra: Sequence[Statement] = ()) -> None:
        """Give up on one delivery: dead, with the reason, for people to look at (and
        `extra` in the same transaction)."""
        await self._db.execute_atomically([(
            "UPDATE deliveries SET status = 'dead', attempts = attempts + 1, lease_until = NULL, "
            "last_error = ?, updated_at = ? WHERE id = ?",
            (reason[:500], now.isoformat(), delivery_id),
        ), *extra])

    async def gave_up_welcome(self, tenant_id: str, conversation_id: str,
                              prefix: str) -> bool:
        """Whether a welcome (event id starting `prefix`) to this conversation was given up."""
        row = await self._db.fetch_one(
            "SELECT 1 AS hit FROM deliveries WHERE tenant_id = ? AND conversation_id = ? "
            "AND status = 'dead' AND event_id LIKE ? LIMIT 1",
            (tenant_id, conversation_id, prefix + "%"))
        return row is not None

    async def park_where(self, reason: str, now: datetime, tenant_id: str,
                         conversation_id: str | None = None) -> int:
        """Park every pending delivery of a conversation (or of a whole tenant)."""
        sql = ("UPDATE deliveries SET status = 'dead', lease_until = NULL, last_error = ?, "
               "updated_at = ? WHERE status = 'pending' AND tenant_id = ?")
        params: list[str] = [reason[:500], now.isoformat(), tenant_id]
        if conversation_id is not None:
            sql += " AND conversation_id = ?"
            params.append(conversation_id)
        return await self._db.execute(sql, params)

    async def release_leases(self) -> int:
        """For a database only this process uses: leases of its previous run are void."""
        return await self._db.execute(
            "UPDATE deliveries SET lease_until = NULL WHERE status = 'pending' "
            "AND lease_until IS NOT NULL")

    async def next_due(self) -> datetime | None:
        row = await self._db.fetch_one(
            "SELECT MIN(next_attempt_at) AS due FROM deliveries WHERE status = 'pending'")
        return datetime.fromisoformat(row["due"]) if row and row["due"] else None

    async def of_alert(self, alert_id: str) -> list[Delivery]:
        rows = await self._db.fetch_all(
            "SELECT * FROM deliveries WHERE alert_id = ? ORDER BY created_at, id", (alert_id,))
        return [_delivery(row) for row in rows]

    async def list(self, status: DeliveryStatus | None = None, limit: int = 100) -> list[Delivery]:
        """The newest `limit` deliveries (of one status, or all), newest first."""
        if status is None:
            rows = await self._db.fetch_all(
                "SELECT * FROM deliveries ORDER BY created_at DESC, id DESC LIMIT ?", (limit,))
        else:
            rows = await self._db.fetch_all(
                "SELECT * FROM deliveries WHERE status = ? ORDER BY created_at DESC, id DESC "
                "LIMIT ?", (status.value, limit))
        return [_delivery(row) for row in rows]

    async def counts(self) -> dict[str, int]:
        rows = await self._db.fetch_all(
            "SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status")
        return {row["status"]: int(row["n"]) for row in rows}
