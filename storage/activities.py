"""A bounded record of the activities handled recently, so a re-sent one is not applied twice.

Teams re-sends an activity it got no 2xx for. Each activity is claimed (tenant, conversation,
activity id) before its turn runs and marked done after; a claim that finds the activity done,
or in progress elsewhere, is a repeat. A turn that failed releases its claim so the re-send is
applied; a claim left by a process that died mid-turn is taken over after `stale_after`.
Records older than `keep` are pruned (Teams re-sends within minutes).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from storage.backend import SqlBackend


class Claim(StrEnum):
    NEW = "new"  # handle it
    DONE = "done"  # handled already: a repeat
    IN_PROGRESS = "in-progress"  # another request is handling it right now


class HandledActivities:
    def __init__(self, db: SqlBackend, stale_after: float = 60.0,
                 keep: float = 24 * 3600.0) -> None:
        self._db = db
        self._stale_after = timedelta(seconds=stale_after)
        self._keep = timedelta(seconds=keep)
        self._pruned_at: datetime | None = None

    async def claim(self, tenant_id: str, conversation_id: str, activity_id: str,
                    now: datetime, again: bool = True) -> Claim:
        await self._prune(now)
        stamp = now.isoformat()
        inserted = await self._db.execute(
            "INSERT INTO handled_activities (tenant_id, conversation_id, activity_id, done, "
            "started_at) VALUES (?, ?, ?, 0, ?) "
            "ON CONFLICT (tenant_id, conversation_id, activity_id) DO NOTHING",
            (tenant_id, conversation_id, activity_id, stamp))
        if inserted:
            return Claim.NEW
        taken_over = await self._db.execute(
            "UPDATE handled_activities SET started_at = ? WHERE tenant_id = ? AND "
            "conversation_id = ? AND activity_id = ? AND done = 0 AND started_at < ?",
            (stamp, tenant_id, conversation_id, activity_id,
             (now - self._stale_after).isoformat()))
        if taken_over:
            return Claim.NEW
        row = await self._db.fetch_one(
            "SELECT done FROM handled_activities WHERE tenant_id = ? AND conversation_id = ? "
            "AND activity_id = ?", (tenant_id, conversation_id, activity_id))
        if row is None:  # released meanwhile (its turn failed): try once more
            return (await self.claim(tenant_id, conversation_id, activity_id, now, again=False)
                    if again else Claim.IN_PROGRESS)
        return Claim.DONE if int(row["done"]) else Claim.IN_PROGRESS

    async def finish(self, tenant_id: str, conversation_id: str, activity_id: str) -> None:
        await self._db.execute(
            "UPDATE handled_activities SET done = 1 WHERE tenant_id = ? AND conversation_id = ? "
            "AND activity_id = ?", (tenant_id, conversation_id, activity_id))

    async def release(self, tenant_id: str, conversation_id: str, activity_id: str) -> None:
        await self._db.execute(
            "DELETE FROM handled_activities WHERE tenant_id = ? AND conversation_id = ? AND "
            "activity_id = ? AND done = 0", (tenant_id, conversation_id, activity_id))

    async def _prune(self, now: datetime) -> None:
        """At most every ten minutes per process: keeps the table bounded without a job."""
        if self._pruned_at is not None and now - self._pruned_at < timedelta(minutes=10):
            return
        self._pruned_at = now
        await self._db.execute("DELETE FROM handled_activities WHERE started_at < ?",
                               ((now - self._keep).isoformat(),))
