"""Turn incoming Teams activities into the registry's plain records (and back)."""

from __future__ import annotations

from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationAccount,
    ConversationReference,
)

from common.wire import ConversationAccountJson, ConversationReferenceJson
from notifier.install.graph import PersonalChat
from storage.models import ConversationUpsert, Scope, Status

# Teams documents some event types with other casings ("teamrestored"); botbuilder only
# dispatches the camelCase ones, so HeatWatch normalizes before dispatch.
TEAMS_EVENT_TYPES = {
    name.lower(): name
    for name in (
        "channelCreated", "channelRenamed", "channelDeleted", "channelRestored",
        "teamRenamed", "teamDeleted", "teamHardDeleted", "teamArchived", "teamUnarchived",
        "teamRestored", "teamMemberAdded", "teamMemberRemoved",
    )
}


def normalize_event_type(activity: Activity) -> None:
    data = activity.channel_data
    if isinstance(data, dict) and isinstance(data.get("eventType"), str):
        data["eventType"] = TEAMS_EVENT_TYPES.get(data["eventType"].lower(), data["eventType"])


def channel_data(activity: Activity) -> dict[str, Any]:
    """The activity's `channelData` as Teams sent it: arbitrary JSON from outside, read with
    checks (`bots/activity_checks.py` has checked the fields the handler relies on)."""
    return activity.channel_data if isinstance(activity.channel_data, dict) else {}


def tenant_of(activity: Activity) -> str:
    """The tenant id; empty for local emulators that send none."""
    if activity.conversation is not None and activity.conversation.tenant_id:
        return str(activity.conversation.tenant_id)
    tenant = channel_data(activity).get("tenant")
    if isinstance(tenant, dict) and tenant.get("id"):
        return str(tenant["id"])
    return ""


def base_conversation_id(conversation_id: str) -> str:
    """A channel thread id carries `;messageid=...`; the channel itself is the part before."""
    return conversation_id.split(";messageid=", 1)[0]


def conversation_id_of(activity: Activity) -> str:
    return base_conversation_id(activity.conversation.id) if activity.conversation else ""


def scope_of(activity: Activity) -> Scope:
    kind = activity.conversation.conversation_type if activity.conversation else None
    if kind == "channel":
        return Scope.CHANNEL
    if kind == "groupChat":
        return Scope.GROUP_CHAT
    return Scope.PERSONAL


def team_of(activity: Activity) -> tuple[str | None, str | None]:
    team = channel_data(activity).get("team")
    if isinstance(team, dict) and team.get("id"):
        return str(team["id"]), team.get("name")
    return None, None


def selected_channel_of(activity: Activity) -> str | None:
    settings = channel_data(activity).get("settings")
    if isinstance(settings, dict):
        selected = settings.get("selectedChannel")
        if isinstance(selected, dict) and selected.get("id"):
            return str(selected["id"])
    return None


def reference_of(activity: Activity,
                 conversation_id: str | None = None) -> ConversationReferenceJson:
    """The activity's ConversationReference as JSON, pointing at the conversation itself (not at
    the incoming message), so proactive sends start a new post."""
    reference: ConversationReference = TurnContext.get_conversation_reference(activity)
    data: ConversationReferenceJson = reference.serialize()
    data.pop("activityId", None)
    conversation: ConversationAccountJson = {**(data.get("conversation") or {})}
    conversation["id"] = conversation_id or conversation_id_of(activity)
    tenant = tenant_of(activity)
    if tenant:
        conversation.setdefault("tenantId", tenant)
    if conversation_id and conversation_id != conversation_id_of(activity):
        conversation.pop("name", None)
    data["conversation"] = conversation
    return data


def upsert_from_activity(
    activity: Activity,
    *,
    conversation_id: str | None = None,
    scope: Scope | None = None,
    channel_name: str | None = None,
    status: Status = Status.ACTIVE,
) -> ConversationUpsert:
    """Everything the registry keeps about the activity's conversation (or a sibling channel of
    the same team, when `conversation_id` names another channel)."""
    scope = scope or scope_of(activity)
    team_id, team_name = team_of(activity) if scope is Scope.CHANNEL else (None, None)
    user = activity.from_property if scope is Scope.PERSONAL else None
    own_id = conversation_id_of(activity)
    target_id = conversation_id or own_id
    if channel_name is None and scope is Scope.CHANNEL and target_id == own_id:
        channel_name = activity.conversation.name if activity.conversation else None
    return ConversationUpsert(
        tenant_id=tenant_of(activity),
        conversation_id=target_id,
        scope=scope,
        service_url=activity.service_url or "",
        reference=reference_of(activity, target_id),
        team_id=team_id,
        team_name=team_name,
        channel_name=channel_name,
        user_aad_object_id=getattr(user, "aad_object_id", None) if user else None,
        user_name=getattr(user, "name", None) if user else None,
        status=status,
    )


def personal_chat_reference(app_id: str, chat: PersonalChat) -> ConversationReferenceJson:
    """A reference to the bot's 1:1 chat with a person, built from what Graph returned (before
    Teams' conversationUpdate arrives; that one then replaces it)."""
    reference = ConversationReference(
        bot=ChannelAccount(id=f"28:{app_id}", name="HeatWatch"),
        user=ChannelAccount(id="", aad_object_id=chat.user_aad_object_id),
        conversation=ConversationAccount(id=chat.chat_id, conversation_type="personal",
                                         tenant_id=chat.tenant_id),
        channel_id="msteams",
        service_url=chat.service_url,
    )
    data: ConversationReferenceJson = reference.serialize()
    return data
