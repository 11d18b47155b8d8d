"""Plain records the store keeps. No botbuilder types: a conversation reference is its Bot
Framework JSON (`common.wire.ConversationReferenceJson`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from common.wire import ConversationReferenceJson


class Scope(StrEnum):
    PERSONAL = "personal"
    GROUP_CHAT = "groupChat"
    CHANNEL = "channel"


class Status(StrEnum):
    """Whether HeatWatch may post in a conversation.

    active: deliverable. paused: the team is archived (Teams refuses posts until unarchived).
    removed: the bot, the channel or the team is gone (may come back: restore, re-add).
    uninstalled: the app is no longer installed there (comes back with the next installation).
    blocked: the user blocked the bot (the platform refused sends as blocked).
    """

    ACTIVE = "active"
    PAUSED = "paused"
    REMOVED = "removed"
    UNINSTALLED = "uninstalled"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class ConversationKey:
    tenant_id: str
    conversation_id: str


@dataclass(frozen=True)
class ConversationUpsert:
    """What an incoming activity tells us about a conversation the bot can post in."""

    tenant_id: str
    conversation_id: str
    scope: Scope
    service_url: str
    reference: ConversationReferenceJson
    team_id: str | None = None
    team_name: str | None = None
    channel_name: str | None = None
    user_aad_object_id: str | None = None
    user_name: str | None = None
    status: Status = Status.ACTIVE


@dataclass(frozen=True)
class Conversation:
    """A stored conversation. For channels, `status` is the effective one: a paused or removed
    team makes every channel of it paused or removed, whatever the channel's own status."""

    tenant_id: str
    conversation_id: str
    scope: Scope
    service_url: str
    reference: ConversationReferenceJson
    status: Status
    own_status: Status
    team_id: str | None
    team_name: str | None
    channel_name: str | None
    user_aad_object_id: str | None
    user_name: str | None
    welcomed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # A personal chat's person's IANA time zone, as Teams last sent it with their message
    # (texts sent there give times in it); None elsewhere or when Teams sent none.
    time_zone: str | None = None

    @property
    def key(self) -> ConversationKey:
        return ConversationKey(self.tenant_id, self.conversation_id)


@dataclass(frozen=True)
class Team:
    tenant_id: str
    team_id: str
    name: str | None
    status: Status
    alert_channel_id: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def target_channel_id(self) -> str:
        """Where this team's alerts go: the channel chosen at installation, else General
        (whose channel id is the team id)."""
        return self.alert_channel_id or self.team_id


@dataclass(frozen=True)
class Member:
    """A user the bot has seen in a team or group chat (`container_id`)."""

    tenant_id: str
    container_id: str
    user_id: str
    aad_object_id: str | None = None
    name: str | None = None
    user_principal_name: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Reaction:
    """A reaction a user left on one of the bot's messages (`message_id` is its activity id)."""

    tenant_id: str
    conversation_id: str
    message_id: str
    user_id: str
    reaction_type: str
    user_aad_object_id: str | None = None
    created_at: datetime | None = field(default=None, compare=False)
