"""Per-series alert state, persisted so a restart neither re-fires nor forgets a pending timer.

The state itself is opaque JSON owned by the rule engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from storage.backend import SqlBackend
from storage.registry import now_text


class AlertStateStore:
    def __init__(self, db: SqlBackend) -> None:
        self._db = db

    async def load(self) -> dict[tuple[str, str], dict[str, Any]]:
        rows = await self._db.fetch_all("SELECT rule, series_key, state FROM alert_state")
        return {(row["rule"], row["series_key"]): json.loads(row["state"]) for row in rows}

    async def save(self, states: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        stamp = now_text()
        statements = [
            (
                "INSERT INTO alert_state (rule, series_key, state, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (rule, series_key) DO UPDATE SET state = excluded.state, "
                "updated_at = excluded.updated_at",
                (rule, key, json.dumps(state, sort_keys=True), stamp),
            )
            for rule, key, state in states
        ]
        if statements:
            await self._db.execute_atomically(statements)

    async def forget_rules_except(self, rule_names: Iterable[str]) -> int:
        """Drop the state of rules no longer in the rules file."""
        names = sorted(set(rule_names))
        if not names:
            return await self._db.execute("DELETE FROM alert_state")
        marks = ", ".join("?" for _ in names)
        return await self._db.execute(
            f"DELETE FROM alert_state WHERE rule NOT IN ({marks})", names)
