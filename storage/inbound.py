"""What the alert receivers remember: the alert states already taken in (so a notification
delivered twice changes nothing), and the Alertmanager silences made from cards."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.backend import SqlBackend, Statement
from storage.registry import now_text

SEEN_FOR = timedelta(days=14)  # longer than any sane repeat_interval


@dataclass(frozen=True)
class Silence:
    """A silence made in an Alertmanager from an incident's card."""

    alert_id: str
    silence_id: str
    url: str  # the Alertmanager's base URL
    until: datetime
    created_by: str | None


class InboundStore:
    def __init__(self, db: SqlBackend) -> None:
        self._db = db

    # alert states seen -------------------------------------------------------------------

    def exclusive(self) -> AbstractAsyncContextManager[None]:
        """Held while a notification is checked and published: replicas sharing a database
        take the same notification in once (two copies must not open two incidents)."""
        return self._db.exclusive("inbound-notifications")

    async def unseen(self, state_ids: Iterable[str]) -> set[str]:
        """The ones not taken in before."""
        wanted = sorted(set(state_ids))
        if not wanted:
            return set()
        marks = ", ".join("?" for _ in wanted)
        rows = await self._db.fetch_all(
            f"SELECT state_id FROM inbound_seen WHERE state_id IN ({marks})", tuple(wanted))
        return set(wanted) - {row["state_id"] for row in rows}

    async def mark_seen(self, receiver: str, state_ids: Iterable[str], now: datetime) -> None:
        statements: list[Statement] = [(
            "INSERT INTO inbound_seen (state_id, receiver, seen_at) VALUES (?, ?, ?) "
            "ON CONFLICT (state_id) DO NOTHING", (state_id, receiver, now.isoformat()))
            for state_id in sorted(set(state_ids))]
        statements.append(("DELETE FROM inbound_seen WHERE seen_at < ?",
                           ((now - SEEN_FOR).isoformat(),)))
        await self._db.execute_atomically(statements)

    # silences ----------------------------------------------------------------------------

    async def silence(self, alert_id: str, now: datetime | None = None) -> Silence | None:
        """The incident's silence, if it is still in force at `now` (any, without `now`)."""
        row = await self._db.fetch_one("SELECT * FROM alert_silences WHERE alert_id = ?",
                                       (alert_id,))
        if row is None:
            return None
        silence = Silence(row["alert_id"], row["silence_id"], row["url"],
                          datetime.fromisoformat(row["until"]), row["created_by"])
        return silence if now is None or silence.until > now else None

    @staticmethod
    def save_silence_statement(silence: Silence) -> Statement:
        return (
            "INSERT INTO alert_silences (alert_id, silence_id, url, until, created_by, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (alert_id) DO UPDATE SET "
            "silence_id = excluded.silence_id, url = excluded.url, until = excluded.until, "
            "created_by = excluded.created_by, created_at = excluded.created_at",
            (silence.alert_id, silence.silence_id, silence.url, silence.until.isoformat(),
             silence.created_by, now_text()))

    @staticmethod
    def forget_silence_statement(alert_id: str) -> Statement:
        return "DELETE FROM alert_silences WHERE alert_id = ?", (alert_id,)
