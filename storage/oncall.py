"""On-call overrides taken in chat (`oncall take 2h`, `oncall give back`): who, in which
schedule, from when to when. The schedules themselves live in the rules file; these rows are
the live changes every replica reads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.backend import SqlBackend
from storage.registry import now_text


@dataclass(frozen=True)
class OverrideRecord:
    schedule: str
    person: str  # AAD object id
    start: datetime
    end: datetime
    by_name: str | None = None


class OverrideStore:
    def __init__(self, db: SqlBackend) -> None:
        self._db = db

    async def take(self, record: OverrideRecord) -> None:
        await self._db.execute(
            "INSERT INTO oncall_overrides (id, schedule, person, starts_at, ends_at, by_name, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (uuid.uuid4().hex, record.schedule, record.person, record.start.isoformat(),
             record.end.isoformat(), record.by_name, now_text()))

    async def give_back(self, schedule: str, person: str, now: datetime) -> int:
        """End `person`'s overrides in `schedule` that are still running or to come; how many."""
        return await self._db.execute(
            "UPDATE oncall_overrides SET ends_at = ? WHERE schedule = ? AND LOWER(person) = "
            "LOWER(?) AND ends_at > ?", (now.isoformat(), schedule, person, now.isoformat()))

    async def current(self, now: datetime) -> list[OverrideRecord]:
        """Overrides not over yet, oldest first (a newer one wins where they overlap)."""
        rows = await self._db.fetch_all(
            "SELECT schedule, person, starts_at, ends_at, by_name FROM oncall_overrides "
            "WHERE ends_at > ? ORDER BY created_at, id", (now.isoformat(),))
        return [OverrideRecord(row["schedule"], row["person"],
                               datetime.fromisoformat(row["starts_at"]),
                               datetime.fromisoformat(row["ends_at"]), row["by_name"])
                for row in rows]

    async def prune(self, before: datetime) -> int:
        """Forget overrides that ended before `before`."""
        return await self._db.execute("DELETE FROM oncall_overrides WHERE ends_at < ?",
                                      (before.isoformat(),))


KEEP_ENDED = timedelta(days=7)  # ended overrides kept this long (the audit trail keeps more)
