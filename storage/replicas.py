"""Which replicas are alive: each one writes a heartbeat; the others count it.

Used to share per-tenant limits that Teams applies to the app as a whole, not per process.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.backend import SqlBackend


class ReplicaRegistry:
    def __init__(self, db: SqlBackend) -> None:
        self._db = db

    async def heartbeat(self, replica_id: str, now: datetime) -> None:
        stamp = now.isoformat()
        await self._db.execute(
            "INSERT INTO replicas (replica_id, started_at, seen_at) VALUES (?, ?, ?) "
            "ON CONFLICT (replica_id) DO UPDATE SET seen_at = excluded.seen_at",
            (replica_id, stamp, stamp))

    async def live(self, now: datetime, within: float) -> int:
        """Replicas seen in the last `within` seconds (stale rows are removed)."""
        horizon = (now - timedelta(seconds=within)).isoformat()
        await self._db.execute("DELETE FROM replicas WHERE seen_at < ?", (horizon,))
        row = await self._db.fetch_one("SELECT COUNT(*) AS n FROM replicas")
        return int(row["n"]) if row else 0

    async def leave(self, replica_id: str) -> None:
        await self._db.execute("DELETE FROM replicas WHERE replica_id = ?", (replica_id,))
