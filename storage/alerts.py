"""Alerts as people see them: each incident (or, before incidents, each alert) with its latest
state as JSON, who acknowledged it, the series it groups, the card that shows it in each
conversation, and per-conversation snoozes.

Documents are JSON text here (`StoredAlert.document`, the series' `data`): the alert core
reads and writes them, typed, in one place (notifier/alerts/record.py), and its
`notifier.alerts.store.AlertStore` reads these rows as typed records. What an alert means
(open kinds, the order of severities, what breaks a snooze) is the core's, not this module's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.backend import Row, SqlBackend, Statement
from storage.inbound import Silence
from storage.registry import now_text

# The audience of an incident: the conversations it was told to (a delivery of it not given up,
# or its card there). Deliveries come from rules, routes, subscriptions, escalation and the
# `test` command alike, so these two directions of one relation answer "who was told" for the
# planner and the escalation (`audience`) and who may see and act on it in chat
# (notifier/chat/access.py, through `told=` and `here`).
_TOLD_TO = ("SELECT tenant_id, conversation_id FROM deliveries WHERE alert_id = ? AND "
            "status <> 'dead' UNION SELECT tenant_id, conversation_id FROM alert_cards "
            "WHERE alert_id = ?")
# The alerts one conversation was told of, as a condition on `alerts` (parameters: tenant id,
# conversation id twice).
_TOLD_HERE = ("alert_id IN (SELECT alert_id FROM deliveries WHERE tenant_id = ? AND "
              "conversation_id = ? AND status <> 'dead' UNION SELECT alert_id FROM alert_cards "
              "WHERE tenant_id = ? AND conversation_id = ?)")

Key = tuple[str, str]  # (tenant id, conversation id)


@dataclass(frozen=True)
class StoredAlert:
    """An alert's row: its document is JSON text (notifier/alerts/record.py reads it)."""

    alert_id: str
    rule: str
    document: str
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    incident: bool  # False: an alert recorded before incidents (no group)


@dataclass(frozen=True)
class Snooze:
    until: datetime
    by_name: str | None
    severity: str | None = None  # the incident's severity when snoozed ("warn", "crit")


@dataclass(frozen=True)
class HereRow:
    """An alert as one conversation sees it, read at once: its silence in force, the
    conversation's mute, and whether the conversation was told of it."""

    alert: StoredAlert
    silence: Silence | None
    muted_until: datetime | None
    told: bool
    snooze: Snooze | None = None  # an incident's snooze there (by its group key)
    card_activity_id: str | None = None  # its card's message there, once posted


def _told_here(told: Key | None, column: str = "alert_id") -> tuple[str, tuple[str, ...]]:
    """The condition (and its parameters) that keeps the alerts `told` was told of."""
    if told is None:
        return "", ()
    tenant_id, conversation_id = told
    return (f" AND {column} {_TOLD_HERE.removeprefix('alert_id ')}",
            (tenant_id, conversation_id, tenant_id, conversation_id))


def _record(row: Row) -> StoredAlert:
    return StoredAlert(
        alert_id=row["alert_id"], rule=row["rule"], document=row["event"],
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=datetime.fromisoformat(row["acknowledged_at"])
        if row["acknowledged_at"] else None,
        incident=row["group_key"] is not None,
    )


class AlertRows:
    """The alerts' rows, documents as JSON text; `notifier.alerts.store.AlertStore` reads
    them typed (the methods ending in `_rows` are its raw reads)."""

    def __init__(self, db: SqlBackend) -> None:
        self._db = db

    @property
    def backend(self) -> SqlBackend:
        return self._db

    # alerts ------------------------------------------------------------------------------

    async def get_row(self, alert_id: str) -> StoredAlert | None:
        row = await self._db.fetch_one("SELECT * FROM alerts WHERE alert_id = ?", (alert_id,))
        return _record(row) if row else None

    async def find_rows(self, prefix: str, told: Key | None = None) -> list[StoredAlert]:
        """Alerts whose id starts with `prefix` (at most 5); with `told`, only those that
        conversation was told of."""
        where, args = _told_here(told)
        rows = await self._db.fetch_all(
            f"SELECT * FROM alerts WHERE alert_id LIKE ?{where} ORDER BY updated_at DESC "
            "LIMIT 5", (prefix.replace("%", "").replace("_", "") + "%", *args))
        return [_record(row) for row in rows]

    async def open_rows(self, told: Key | None = None) -> list[StoredAlert]:
        """Open incidents and every alert recorded before incidents (whose document says
        whether it is open); with `told`, only those that conversation was told of."""
        where, args = _told_here(told)
        rows = await self._db.fetch_all(
            f"SELECT * FROM alerts WHERE (is_open = 1 OR group_key IS NULL){where} "
            "ORDER BY updated_at", args)
        return list(map(_record, rows))

    # audiences ---------------------------------------------------------------------------

    async def audience(self, alert_id: str) -> set[Key]:
        """The conversations told of this alert (see `_TOLD_TO`)."""
        rows = await self._db.fetch_all(_TOLD_TO, (alert_id, alert_id))
        return {(row["tenant_id"], row["conversation_id"]) for row in rows}

    async def here_row(self, alert_id: str, where: Key, now: datetime) -> HereRow | None:
        """The alert as the conversation `where` sees it, in one query: with its card's message
        there, and its snooze there for an incident (whose group key is a column; an alert
        recorded before incidents has its series key only in its document: `snooze_here`)."""
        told, args = _told_here(where, "a.alert_id")
        stamp = now.isoformat()
        row = await self._db.fetch_one(
            "SELECT a.*, si.silence_id AS silence_id, si.url AS silence_url, "
            "si.until AS silence_until, si.created_by AS silence_by, m.until AS mute_until, "
            "sn.until AS snooze_until, sn.by_name AS snooze_by, sn.severity AS snooze_severity, "
            "c.activity_id AS card_activity_id, "
            f"CASE WHEN 1 = 1{told} THEN 1 ELSE 0 END AS told FROM alerts a "
            "LEFT JOIN alert_silences si ON si.alert_id = a.alert_id AND si.until > ? "
            "LEFT JOIN mutes m ON m.tenant_id = ? AND m.conversation_id = ? AND m.until > ? "
            "LEFT JOIN snoozes sn ON sn.tenant_id = ? AND sn.conversation_id = ? AND "
            "sn.rule = a.rule AND sn.series_key = a.group_key AND sn.until > ? "
            "LEFT JOIN alert_cards c ON c.alert_id = a.alert_id AND c.tenant_id = ? AND "
            "c.conversation_id = ? WHERE a.alert_id = ?",
            (*args, stamp, *where, stamp, *where, stamp, *where, alert_id))
        if row is None:
            return None
        silence = Silence(alert_id, row["silence_id"], row["silence_url"],
                          datetime.fromisoformat(row["silence_until"]), row["silence_by"]
                          ) if row["silence_id"] else None
        mute = datetime.fromisoformat(row["mute_until"]) if row["mute_until"] else None
        snooze = Snooze(datetime.fromisoformat(row["snooze_until"]), row["snooze_by"],
                        row["snooze_severity"]) if row["snooze_until"] else None
        return HereRow(_record(row), silence, mute, bool(row["told"]), snooze,
                       row["card_activity_id"])

    # incidents ---------------------------------------------------------------------------

    async def open_incident_row(self, source: str, rule: str,
                                group_key: str) -> StoredAlert | None:
        row = await self._db.fetch_one(
            "SELECT * FROM alerts WHERE is_open = 1 AND source = ? AND rule = ? AND "
            "group_key = ? ORDER BY created_at DESC LIMIT 1", (source, rule, group_key))
        return _record(row) if row else None

    async def open_incident_row_with(self, source: str, rule: str,
                                     series_key: str) -> StoredAlert | None:
        """The open incident of `rule` that holds this series (for an event that cannot name
        its group any more, such as the end of a rule removed from the rules file)."""
        row = await self._db.fetch_one(
            "SELECT a.* FROM alerts a JOIN incident_series s ON s.alert_id = a.alert_id "
            "WHERE a.is_open = 1 AND a.source = ? AND a.rule = ? AND s.series_key = ? "
            "ORDER BY a.created_at DESC LIMIT 1", (source, rule, series_key))
        return _record(row) if row else None

    async def legacy_row(self, alert_id: str) -> StoredAlert | None:
        """An alert recorded before incidents (one per series), open or not."""
        row = await self._db.fetch_one(
            "SELECT * FROM alerts WHERE alert_id = ? AND group_key IS NULL", (alert_id,))
        return _record(row) if row else None

    async def series_rows(self, alert_id: str) -> dict[str, str]:
        """An incident's series: key -> its JSON text."""
        rows = await self._db.fetch_all(
            "SELECT series_key, data FROM incident_series WHERE alert_id = ?", (alert_id,))
        return {row["series_key"]: row["data"] for row in rows}

    def incident_statements(self, alert_id: str, source: str, rule: str, group_key: str,
                            document: str, is_open: bool, clear_ack: bool,
                            series: dict[str, str]) -> list[Statement]:
        """Upsert an incident's document and the series that changed, in one transaction
        with the deliveries that tell people about it."""
        stamp = now_text()
        ack = ("acknowledged_by = NULL, acknowledged_at = NULL, " if clear_ack else "")
        statements: list[Statement] = [(
            "INSERT INTO alerts (alert_id, rule, event, source, group_key, is_open, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (alert_id) DO UPDATE SET "
            f"event = excluded.event, group_key = excluded.group_key, {ack}"
            "is_open = excluded.is_open, updated_at = excluded.updated_at",
            (alert_id, rule, document, source, group_key, int(is_open), stamp, stamp))]
        statements += [(
            "INSERT INTO incident_series (alert_id, series_key, data, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (alert_id, series_key) DO UPDATE SET "
            "data = excluded.data, updated_at = excluded.updated_at",
            (alert_id, key, data, stamp))
            for key, data in series.items()]
        return statements

    def acknowledge_statement(self, alert_id: str, by_name: str, at: datetime) -> Statement:
        """Acknowledge unless already acknowledged (the first one stands)."""
        return ("UPDATE alerts SET acknowledged_by = ?, acknowledged_at = ?, updated_at = ? "
                "WHERE alert_id = ? AND acknowledged_by IS NULL",
                (by_name, at.isoformat(), now_text(), alert_id))

    def unacknowledge_statement(self, alert_id: str) -> Statement:
        return ("UPDATE alerts SET acknowledged_by = NULL, acknowledged_at = NULL, "
                "updated_at = ? WHERE alert_id = ? AND acknowledged_by IS NOT NULL",
                (now_text(), alert_id))

    async def recent_rows(self, limit: int, told: Key | None = None) -> list[StoredAlert]:
        """The latest incidents (open or ended), newest first; with `told`, only those that
        conversation was told of."""
        where, args = _told_here(told)
        rows = await self._db.fetch_all(
            f"SELECT * FROM alerts WHERE group_key IS NOT NULL{where} ORDER BY created_at DESC, "
            "alert_id LIMIT ?", (*args, limit))
        return list(map(_record, rows))

    async def rows_since(self, since: datetime, source: str,
                         limit: int = 10_000) -> list[StoredAlert]:
        """The incidents of `source` open now or updated since `since` (the exposure report),
        oldest first, at most `limit`."""
        rows = await self._db.fetch_all(
            "SELECT * FROM alerts WHERE group_key IS NOT NULL AND source = ? AND "
            "(is_open = 1 OR updated_at >= ?) ORDER BY created_at, alert_id LIMIT ?",
            (source, since.isoformat(), limit))
        return list(map(_record, rows))

    # cards -------------------------------------------------------------------------------

    def card_statement(self, alert_id: str, tenant_id: str, conversation_id: str,
                       activity_id: str) -> Statement:
        return (
            "INSERT INTO alert_cards (alert_id, tenant_id, conversation_id, activity_id, "
            "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (alert_id, tenant_id, "
            "conversation_id) DO UPDATE SET activity_id = excluded.activity_id, "
            "updated_at = excluded.updated_at",
            (alert_id, tenant_id, conversation_id, activity_id, now_text()),
        )

    async def card(self, alert_id: str, tenant_id: str, conversation_id: str) -> str | None:
        row = await self._db.fetch_one(
            "SELECT activity_id FROM alert_cards WHERE alert_id = ? AND tenant_id = ? AND "
            "conversation_id = ?", (alert_id, tenant_id, conversation_id))
        return row["activity_id"] if row else None

    async def cards_of(self, alert_id: str) -> list[tuple[str, str]]:
        rows = await self._db.fetch_all(
            "SELECT tenant_id, conversation_id FROM alert_cards WHERE alert_id = ? "
            "ORDER BY tenant_id, conversation_id", (alert_id,))
        return [(row["tenant_id"], row["conversation_id"]) for row in rows]

    async def alert_of_card(self, tenant_id: str, conversation_id: str,
                            activity_id: str) -> str | None:
        row = await self._db.fetch_one(
            "SELECT alert_id FROM alert_cards WHERE tenant_id = ? AND conversation_id = ? AND "
            "activity_id = ?", (tenant_id, conversation_id, activity_id))
        return row["alert_id"] if row else None

    # snoozes -----------------------------------------------------------------------------

    def snooze_statement(self, tenant_id: str, conversation_id: str, rule: str, series: str,
                         until: datetime, by_name: str | None,
                         severity: str | None) -> Statement:
        return (
            "INSERT INTO snoozes (tenant_id, conversation_id, rule, series_key, until, by_name, "
            "severity, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, "
            "conversation_id, rule, series_key) DO UPDATE SET until = excluded.until, "
            "by_name = excluded.by_name, severity = excluded.severity",
            (tenant_id, conversation_id, rule, series, until.isoformat(), by_name, severity,
             now_text()))

    def unsnooze_statement(self, tenant_id: str, conversation_id: str, rule: str,
                           series: str, now: datetime) -> Statement:
        """End a snooze still running (no rows changed: there was none)."""
        return ("DELETE FROM snoozes WHERE tenant_id = ? AND conversation_id = ? AND rule = ? "
                "AND series_key = ? AND until > ?",
                (tenant_id, conversation_id, rule, series, now.isoformat()))

    async def snoozes(self, rule: str, series: str, now: datetime) -> dict[tuple[str, str],
                                                                           Snooze]:
        rows = await self._db.fetch_all(
            "SELECT tenant_id, conversation_id, until, by_name, severity FROM snoozes WHERE "
            "rule = ? AND series_key = ? AND until > ?", (rule, series, now.isoformat()))
        return {(r["tenant_id"], r["conversation_id"]):
                Snooze(datetime.fromisoformat(r["until"]), r["by_name"], r["severity"])
                for r in rows}

    async def snooze_here(self, where: Key, rule: str, series: str,
                          now: datetime) -> Snooze | None:
        """The snooze of one series running in one conversation."""
        row = await self._db.fetch_one(
            "SELECT until, by_name, severity FROM snoozes WHERE tenant_id = ? AND "
            "conversation_id = ? AND rule = ? AND series_key = ? AND until > ?",
            (*where, rule, series, now.isoformat()))
        return (Snooze(datetime.fromisoformat(row["until"]), row["by_name"], row["severity"])
                if row else None)

    async def snoozes_in(self, tenant_id: str, conversation_id: str,
                         now: datetime) -> dict[tuple[str, str], Snooze]:
        """The snoozes running in one conversation, by (rule, series key)."""
        rows = await self._db.fetch_all(
            "SELECT rule, series_key, until, by_name, severity FROM snoozes WHERE "
            "tenant_id = ? AND conversation_id = ? AND until > ?",
            (tenant_id, conversation_id, now.isoformat()))
        return {(r["rule"], r["series_key"]):
                Snooze(datetime.fromisoformat(r["until"]), r["by_name"], r["severity"])
                for r in rows}
