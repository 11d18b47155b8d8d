"""What each conversation asked for in chat: subscriptions per rule (or '*') and mutes."""

from __future__ import annotations

from datetime import datetime

from storage.backend import SqlBackend, Statement
from storage.registry import now_text

ALL_RULES = "*"


class Preferences:
    def __init__(self, db: SqlBackend) -> None:
        self._db = db

    async def set_subscription(self, tenant_id: str, conversation_id: str, rule: str,
                               subscribed: bool) -> None:
        """`rule` may be ALL_RULES; a choice for everything replaces the per-rule ones."""
        statements: list[Statement] = []
        if rule == ALL_RULES:
            statements.append(("DELETE FROM subscriptions WHERE tenant_id = ? AND "
                               "conversation_id = ?", (tenant_id, conversation_id)))
        statements.append((
            "INSERT INTO subscriptions (tenant_id, conversation_id, rule, subscribed, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id, conversation_id, rule) DO UPDATE SET "
            "subscribed = excluded.subscribed, updated_at = excluded.updated_at",
            (tenant_id, conversation_id, rule, 1 if subscribed else 0, now_text())))
        await self._db.execute_atomically(statements)

    async def subscriptions(self) -> dict[tuple[str, str], dict[str, bool]]:
        rows = await self._db.fetch_all(
            "SELECT tenant_id, conversation_id, rule, subscribed FROM subscriptions")
        found: dict[tuple[str, str], dict[str, bool]] = {}
        for row in rows:
            found.setdefault((row["tenant_id"], row["conversation_id"]), {})[row["rule"]] = bool(
                row["subscribed"])
        return found

    async def mute(self, tenant_id: str, conversation_id: str, until: datetime,
                   by_name: str | None) -> None:
        await self._db.execute(
            "INSERT INTO mutes (tenant_id, conversation_id, until, by_name) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET until = excluded.until, "
            "by_name = excluded.by_name", (tenant_id, conversation_id, until.isoformat(), by_name))

    async def unmute(self, tenant_id: str, conversation_id: str) -> None:
        await self._db.execute("DELETE FROM mutes WHERE tenant_id = ? AND conversation_id = ?",
                               (tenant_id, conversation_id))

    async def mute_of(self, tenant_id: str, conversation_id: str,
                      now: datetime) -> tuple[datetime, str | None] | None:
        """The mute running in one conversation: (until, by whom), or None."""
        row = await self._db.fetch_one(
            "SELECT until, by_name FROM mutes WHERE tenant_id = ? AND conversation_id = ? AND "
            "until > ?", (tenant_id, conversation_id, now.isoformat()))
        return (datetime.fromisoformat(row["until"]), row["by_name"]) if row else None

    async def subscription_of(self, tenant_id: str, conversation_id: str) -> dict[str, bool]:
        """One conversation's choices, by rule (or '*')."""
        return (await self.subscriptions()).get((tenant_id, conversation_id), {})

    async def muted(self, now: datetime) -> dict[tuple[str, str], datetime]:
        rows = await self._db.fetch_all(
            "SELECT tenant_id, conversation_id, until FROM mutes WHERE until > ?",
            (now.isoformat(),))
        return {(r["tenant_id"], r["conversation_id"]): datetime.fromisoformat(r["until"])
                for r in rows}
