"""The conversation registry: every conversation HeatWatch can message, and what it knows of it.

Keyed by tenant + conversation id. A channel's effective status folds in its team's status, so
archiving a team pauses all its channels and unarchiving brings back exactly those that were
active before.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from common.clock import utcnow
from common.stored import time_of
from storage.backend import Row, SqlBackend, Statement
from storage.models import (
    Conversation,
    ConversationUpsert,
    Member,
    Reaction,
    Scope,
    Status,
    Team,
)

WELCOME_EVENT_PREFIX = "welcome-"  # the event id of a conversation's welcome delivery


def now_text() -> str:
    return utcnow().isoformat()


_SELECT_CONVERSATION = """
SELECT c.*, t.status AS team_status
FROM conversations c
LEFT JOIN teams t ON t.tenant_id = c.tenant_id AND t.team_id = c.team_id
"""


def _conversation(row: Row) -> Conversation:
    own = Status(row["status"])
    team_status = row.get("team_status")
    effective = own
    if row["scope"] == Scope.CHANNEL and team_status and team_status != Status.ACTIVE:
        effective = Status(team_status)
    return Conversation(
        tenant_id=row["tenant_id"],
        conversation_id=row["conversation_id"],
        scope=Scope(row["scope"]),
        service_url=row["service_url"],
        reference=json.loads(row["reference"]),
        status=effective,
        own_status=own,
        team_id=row["team_id"],
        team_name=row["team_name"],
        channel_name=row["channel_name"],
        user_aad_object_id=row["user_aad_object_id"],
        user_name=row["user_name"],
        welcomed_at=time_of(row["welcomed_at"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
        time_zone=row.get("time_zone"),
    )


def _team(row: Row) -> Team:
    return Team(
        tenant_id=row["tenant_id"],
        team_id=row["team_id"],
        name=row["name"],
        status=Status(row["status"]),
        alert_channel_id=row["alert_channel_id"],
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )


class ConversationRegistry:
    """Async, durable registry over any `SqlBackend`."""

    def __init__(self, db: SqlBackend) -> None:
        self._db = db

    # conversations -----------------------------------------------------------------------

    async def upsert_conversation(self, item: ConversationUpsert) -> Conversation:
        """Insert or refresh a conversation; names only overwrite when the activity carries them."""
        await self._db.execute(*self.upsert_statement(item))
        stored = await self.get_conversation(item.tenant_id, item.conversation_id)
        assert stored is not None
        return stored

    @staticmethod
    def upsert_statement(item: ConversationUpsert) -> Statement:
        """The upsert of `upsert_conversation`, to run in a caller's transaction."""
        stamp = now_text()
        return (
            """
            INSERT INTO conversations (tenant_id, conversation_id, scope, team_id, team_name,
                channel_name, user_aad_object_id, user_name, service_url, reference, status,
                created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET
                scope = excluded.scope,
                team_id = COALESCE(excluded.team_id, conversations.team_id),
                team_name = COALESCE(excluded.team_name, conversations.team_name),
                channel_name = COALESCE(excluded.channel_name, conversations.channel_name),
                user_aad_object_id = COALESCE(excluded.user_aad_object_id,
                                              conversations.user_aad_object_id),
                user_name = COALESCE(excluded.user_name, conversations.user_name),
                service_url = excluded.service_url,
                reference = excluded.reference,
                status = excluded.status,
                updated_at = excluded.updated_at
            """,
            (
                item.tenant_id,
                item.conversation_id,
                item.scope.value,
                item.team_id,
                item.team_name,
                item.channel_name,
                item.user_aad_object_id,
                item.user_name,
                item.service_url,
                json.dumps(item.reference, sort_keys=True),
                item.status.value,
                stamp,
                stamp,
            ),
        )

    async def get_conversation(self, tenant_id: str, conversation_id: str) -> Conversation | None:
        row = await self._db.fetch_one(
            _SELECT_CONVERSATION + " WHERE c.tenant_id = ? AND c.conversation_id = ?",
            (tenant_id, conversation_id),
        )
        return _conversation(row) if row else None

    async def list_conversations(
        self,
        *,
        tenant_id: str | None = None,
        team_id: str | None = None,
        scope: Scope | None = None,
    ) -> list[Conversation]:
        where: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("c.tenant_id", tenant_id),
            ("c.team_id", team_id),
            ("c.scope", scope.value if scope else None),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = _SELECT_CONVERSATION + (" WHERE " + " AND ".join(where) if where else "")
        rows = await self._db.fetch_all(sql + " ORDER BY c.tenant_id, c.conversation_id", params)
        return [_conversation(row) for row in rows]

    async def set_conversation_status(
        self, tenant_id: str, conversation_id: str, status: Status
    ) -> bool:
        changed = await self._db.execute(
            "UPDATE conversations SET status = ?, updated_at = ? "
            "WHERE tenant_id = ? AND conversation_id = ?",
            (status.value, now_text(), tenant_id, conversation_id),
        )
        return changed > 0

    async def claim_welcome(self, tenant_id: str, conversation_id: str) -> bool:
        """True for exactly one caller per conversation, ever: the one that should say hello."""
        [changed] = await self._db.execute_atomically(
            [self.claim_welcome_statement(tenant_id, conversation_id, now_text())])
        return changed > 0

    @staticmethod
    def claim_welcome_statement(tenant_id: str, conversation_id: str, stamp: str) -> Statement:
        """Marks the conversation welcomed at `stamp` unless it already was (changes 0 rows)."""
        return ("UPDATE conversations SET welcomed_at = ? "
                "WHERE tenant_id = ? AND conversation_id = ? AND welcomed_at IS NULL",
                (stamp, tenant_id, conversation_id))

    @staticmethod
    def release_welcome_statement(tenant_id: str, conversation_id: str) -> Statement:
        """The welcome was given up: not welcomed after all, so the next activity of the
        conversation queues it again."""
        return ("UPDATE conversations SET welcomed_at = NULL "
                "WHERE tenant_id = ? AND conversation_id = ?", (tenant_id, conversation_id))

    @staticmethod
    def welcomed_at_condition(tenant_id: str, conversation_id: str, stamp: str) -> Statement:
        """A query with a row only if the conversation was welcomed at exactly `stamp`: the
        claim above succeeded in this transaction."""
        return ("SELECT 1 FROM conversations WHERE tenant_id = ? AND conversation_id = ? AND "
                "welcomed_at = ?", (tenant_id, conversation_id, stamp))

    async def remember_time_zone(self, tenant_id: str, conversation_id: str,
                                 time_zone: str) -> bool:
        """The person of a personal chat wrote with their time zone: texts sent there give
        times in it. Whether it changed (one UPDATE, none when it is the same)."""
        return bool(await self._db.execute(
            "UPDATE conversations SET time_zone = ? WHERE tenant_id = ? AND conversation_id = ? "
            "AND scope = ? AND (time_zone IS NULL OR time_zone <> ?)",
            (time_zone, tenant_id, conversation_id, Scope.PERSONAL.value, time_zone)))

    async def refresh_service_url(
        self, tenant_id: str, conversation_id: str, team_id: str | None, service_url: str
    ) -> int:
        """Teams may move a tenant to another region: store the serviceUrl it used last, on this
        conversation and, for a team, on all of its channels."""
        rows = await self._db.fetch_all(
            "SELECT conversation_id, reference FROM conversations WHERE tenant_id = ? AND "
            "(conversation_id = ? OR (team_id IS NOT NULL AND team_id = ?)) AND service_url <> ?",
            (tenant_id, conversation_id, team_id, service_url),
        )
        statements: list[Statement] = []
        stamp = now_text()
        for row in rows:
            reference = json.loads(row["reference"])
            reference["serviceUrl"] = service_url
            statements.append(
                (
                    "UPDATE conversations SET service_url = ?, reference = ?, updated_at = ? "
                    "WHERE tenant_id = ? AND conversation_id = ?",
                    (service_url, json.dumps(reference, sort_keys=True), stamp, tenant_id,
                     row["conversation_id"]),
                )
            )
        if statements:
            await self._db.execute_atomically(statements)
        return len(statements)

    async def forget_conversation(self, tenant_id: str, conversation_id: str) -> None:
        """Delete all the bot stored about one conversation (uninstall; privacy guidance)."""
        await self._db.execute_atomically(
            [
                ("DELETE FROM reactions WHERE tenant_id = ? AND conversation_id = ?",
                 (tenant_id, conversation_id)),
                ("DELETE FROM members WHERE tenant_id = ? AND container_id = ?",
                 (tenant_id, conversation_id)),
                ("DELETE FROM conversations WHERE tenant_id = ? AND conversation_id = ?",
                 (tenant_id, conversation_id)),
            ]
        )

    # teams -------------------------------------------------------------------------------

    async def upsert_team(
        self, tenant_id: str, team_id: str, name: str | None, status: Status = Status.ACTIVE
    ) -> Team:
        stamp = now_text()
        await self._db.execute(
            """
            INSERT INTO teams (tenant_id, team_id, name, status, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (tenant_id, team_id) DO UPDATE SET
                name = COALESCE(excluded.name, teams.name),
                status = excluded.status,
                updated_at = excluded.updated_at
            """,
            (tenant_id, team_id, name, status.value, stamp, stamp),
        )
        team = await self.get_team(tenant_id, team_id)
        assert team is not None
        return team

    async def get_team(self, tenant_id: str, team_id: str) -> Team | None:
        row = await self._db.fetch_one(
            "SELECT * FROM teams WHERE tenant_id = ? AND team_id = ?", (tenant_id, team_id)
        )
        return _team(row) if row else None

    async def list_teams(self, tenant_id: str | None = None) -> list[Team]:
        if tenant_id is None:
            rows = await self._db.fetch_all("SELECT * FROM teams ORDER BY tenant_id, team_id")
        else:
            rows = await self._db.fetch_all(
                "SELECT * FROM teams WHERE tenant_id = ? ORDER BY team_id", (tenant_id,)
            )
        return [_team(row) for row in rows]

    async def set_team_status(self, tenant_id: str, team_id: str, status: Status) -> bool:
        changed = await self._db.execute(
            "UPDATE teams SET status = ?, updated_at = ? WHERE tenant_id = ? AND team_id = ?",
            (status.value, now_text(), tenant_id, team_id),
        )
        return changed > 0

    async def rename_team(self, tenant_id: str, team_id: str, name: str | None) -> None:
        stamp = now_text()
        await self._db.execute_atomically(
            [
                ("UPDATE teams SET name = ?, updated_at = ? WHERE tenant_id = ? AND team_id = ?",
                 (name, stamp, tenant_id, team_id)),
                ("UPDATE conversations SET team_name = ?, updated_at = ? "
                 "WHERE tenant_id = ? AND team_id = ?", (name, stamp, tenant_id, team_id)),
            ]
        )

    async def set_team_alert_channel(
        self, tenant_id: str, team_id: str, channel_id: str | None
    ) -> None:
        """Where the team's alerts go; None means the General channel."""
        await self._db.execute(
            "UPDATE teams SET alert_channel_id = ?, updated_at = ? "
            "WHERE tenant_id = ? AND team_id = ?",
            (channel_id, now_text(), tenant_id, team_id),
        )

    async def forget_team(self, tenant_id: str, team_id: str) -> None:
        """Delete the team, its channels, their reactions and the team's members."""
        channel_filter = (
            "conversation_id IN (SELECT conversation_id FROM conversations "
            "WHERE tenant_id = ? AND team_id = ?)"
        )
        await self._db.execute_atomically(
            [
                (f"DELETE FROM reactions WHERE tenant_id = ? AND {channel_filter}",
                 (tenant_id, tenant_id, team_id)),
                ("DELETE FROM members WHERE tenant_id = ? AND container_id = ?",
                 (tenant_id, team_id)),
                ("DELETE FROM conversations WHERE tenant_id = ? AND team_id = ?",
                 (tenant_id, team_id)),
                ("DELETE FROM teams WHERE tenant_id = ? AND team_id = ?", (tenant_id, team_id)),
            ]
        )

    # members -----------------------------------------------------------------------------

    async def upsert_members(self, members: Sequence[Member]) -> None:
        stamp = now_text()
        await self._db.execute_atomically(
            [
                (
                    """
                    INSERT INTO members (tenant_id, container_id, user_id, aad_object_id, name,
                        user_principal_name, email, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (tenant_id, container_id, user_id) DO UPDATE SET
                        aad_object_id = COALESCE(excluded.aad_object_id, members.aad_object_id),
                        name = COALESCE(excluded.name, members.name),
                        user_principal_name = COALESCE(excluded.user_principal_name,
                                                       members.user_principal_name),
                        email = COALESCE(excluded.email, members.email),
                        updated_at = excluded.updated_at
                    """,
                    (m.tenant_id, m.container_id, m.user_id, m.aad_object_id, m.name,
                     m.user_principal_name, m.email, stamp),
                )
                for m in members
            ]
        )

    async def remove_member(self, tenant_id: str, container_id: str, user_id: str) -> bool:
        changed = await self._db.execute(
            "DELETE FROM members WHERE tenant_id = ? AND container_id = ? AND user_id = ?",
            (tenant_id, container_id, user_id),
        )
        return changed > 0

    async def list_members(self, tenant_id: str, container_id: str) -> list[Member]:
        rows = await self._db.fetch_all(
            "SELECT tenant_id, container_id, user_id, aad_object_id, name, user_principal_name, "
            "email FROM members WHERE tenant_id = ? AND container_id = ? ORDER BY user_id",
            (tenant_id, container_id),
        )
        return [Member(**row) for row in rows]

    # reactions ---------------------------------------------------------------------------

    async def add_reaction(self, reaction: Reaction) -> None:
        await self._db.execute(
            """
            INSERT INTO reactions (tenant_id, conversation_id, message_id, user_id, reaction_type,
                user_aad_object_id, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (tenant_id, conversation_id, message_id, user_id, reaction_type)
            DO NOTHING
            """,
            (reaction.tenant_id, reaction.conversation_id, reaction.message_id, reaction.user_id,
             reaction.reaction_type, reaction.user_aad_object_id, now_text()),
        )

    async def remove_reaction(self, reaction: Reaction) -> bool:
        changed = await self._db.execute(
            "DELETE FROM reactions WHERE tenant_id = ? AND conversation_id = ? "
            "AND message_id = ? AND user_id = ? AND reaction_type = ?",
            (reaction.tenant_id, reaction.conversation_id, reaction.message_id, reaction.user_id,
             reaction.reaction_type),
        )
        return changed > 0

    async def list_reactions(
        self, tenant_id: str, conversation_id: str, message_id: str
    ) -> list[Reaction]:
        rows = await self._db.fetch_all(
            "SELECT * FROM reactions WHERE tenant_id = ? AND conversation_id = ? "
            "AND message_id = ? ORDER BY created_at, user_id",
            (tenant_id, conversation_id, message_id),
        )
        return [
            Reaction(
                tenant_id=row["tenant_id"],
                conversation_id=row["conversation_id"],
                message_id=row["message_id"],
                user_id=row["user_id"],
                reaction_type=row["reaction_type"],
                user_aad_object_id=row["user_aad_object_id"],
                created_at=time_of(row["created_at"]),
            )
            for row in rows
        ]

    # delivery ----------------------------------------------------------------------------

    async def list_alert_targets(self) -> list[Conversation]:
        """Who gets alerts by default: every active personal chat, and for every active team one
        channel: the one chosen at installation while it is active, else General."""
        rows = await self._db.fetch_all(
            _SELECT_CONVERSATION
            + " WHERE c.status = 'active' AND (c.scope = 'personal' OR "
            "(c.scope = 'channel' AND t.status = 'active')) "
            "ORDER BY c.tenant_id, c.conversation_id"
        )
        teams = {(t.tenant_id, t.team_id): t for t in await self.list_teams()}
        personal: list[Conversation] = []
        channels: dict[tuple[str, str | None], dict[str, Conversation]] = {}
        for conversation in map(_conversation, rows):
            if conversation.scope is Scope.PERSONAL:
                personal.append(conversation)
            else:
                channels.setdefault((conversation.tenant_id, conversation.team_id), {})[
                    conversation.conversation_id] = conversation
        chosen: list[Conversation] = []
        for (tenant_id, team_id), active in channels.items():
            team = teams.get((tenant_id, team_id or ""))
            if team is None:
                continue
            target = active.get(team.target_channel_id) or active.get(team.team_id)
            if target is not None:
                chosen.append(target)
        return personal + sorted(chosen, key=lambda c: (c.tenant_id, c.conversation_id))

    async def people(self, aad_object_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(display name, Teams user id) of people by AAD object id (lower-cased), from the
        team and group chat members the bot knows; people it never saw are left out."""
        if not aad_object_ids:
            return {}
        marks = ", ".join("?" for _ in aad_object_ids)
        rows = await self._db.fetch_all(
            "SELECT LOWER(aad_object_id) AS aad, name, user_id FROM members WHERE "
            f"LOWER(aad_object_id) IN ({marks}) ORDER BY updated_at",
            [value.lower() for value in aad_object_ids])
        return {row["aad"]: (row["name"] or "", row["user_id"]) for row in rows}
