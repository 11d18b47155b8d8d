"""Per-series alert state, persisted so a restart neither re-fires nor forgets a pending timer.

The state itself is JSON text owned by the rule engine (`SeriesState.dumps` and `loads` in
notifier/monitoring/engine.py): storage keeps it and never reads it, as it keeps an alert's
document (storage/alerts.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.backend import SqlBackend, Statement
from storage.registry import now_text


@dataclass(frozen=True)
class SourceOutage:
    failing_since: datetime
    down_alert_id: str | None
    last_error: str


class AlertStateStore:
    def __init__(self, db: SqlBackend) -> None:
        self._db = db

    async def load(self) -> dict[tuple[str, str], str]:
        """Every series' state, as its JSON text, by rule and series key."""
        rows = await self._db.fetch_all("SELECT rule, series_key, state FROM alert_state")
        return {(row["rule"], row["series_key"]): row["state"] for row in rows}

    async def save(self, states: Iterable[tuple[str, str, str]],
                   extra: Sequence[Statement] = ()) -> None:
        """Upsert series states (rule, series key, JSON text) and `extra` statements in one
        transaction."""
        stamp = now_text()
        statements: list[Statement] = [
            (
                "INSERT INTO alert_state (rule, series_key, state, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (rule, series_key) DO UPDATE SET state = excluded.state, "
                "updated_at = excluded.updated_at",
                (rule, key, state, stamp),
            )
            for rule, key, state in states
        ]
        statements += extra
        if statements:
            await self._db.execute_atomically(statements)

    async def load_outage(self, source: str) -> SourceOutage | None:
        """The data source's ongoing outage, as the last poller recorded it."""
        row = await self._db.fetch_one(
            "SELECT failing_since, down_alert_id, last_error FROM source_health "
            "WHERE source = ? AND failing_since IS NOT NULL", (source,))
        if row is None:
            return None
        return SourceOutage(datetime.fromisoformat(row["failing_since"]), row["down_alert_id"],
                            row["last_error"] or "")

    def outage_statement(self, source: str, outage: SourceOutage | None) -> Statement:
        """Record the source's outage (None: it is healthy), so a poller that takes over
        continues the same outage: same start, same alert, no second announcement."""
        return (
            "INSERT INTO source_health (source, failing_since, down_alert_id, last_error, "
            "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET "
            "failing_since = excluded.failing_since, down_alert_id = excluded.down_alert_id, "
            "last_error = excluded.last_error, updated_at = excluded.updated_at",
            (source, outage.failing_since.isoformat() if outage else None,
             outage.down_alert_id if outage else None, outage.last_error if outage else None,
             now_text()))

    @staticmethod
    def forget_statement(rule: str, key: str) -> Statement:
        """Drop one series' state (a series forgotten after long without data)."""
        return "DELETE FROM alert_state WHERE rule = ? AND series_key = ?", (rule, key)

    async def forget_rules_except(self, rule_names: Iterable[str]) -> int:
        """Drop the state of rules no longer in the rules file."""
        names = sorted(set(rule_names))
        if not names:
            return await self._db.execute("DELETE FROM alert_state")
        marks = ", ".join("?" for _ in names)
        return await self._db.execute(
            f"DELETE FROM alert_state WHERE rule NOT IN ({marks})", names)
