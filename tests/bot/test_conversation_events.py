"""Every Teams conversation event, through POST /api/messages, against a real SQLite registry
and the Bot Connector stand-in."""

from __future__ import annotations

from bots.heatwatch_bot import HELP_TEXT
from notifier.chat.commands import help_text
from notifier.chat.welcome import WELCOME as WELCOME_TEXT
from notifier.chat.welcome import welcome_text
from storage.models import Scope, Status
from storage.registry import ConversationRegistry
from tests.standins.connector import ConnectorStandIn, Member
from tests.support.teams import (
    BOT_ID,
    CHANNEL,
    GROUP,
    NEW_CHANNEL,
    PERSONAL,
    TEAM,
    TENANT,
    USER2_AAD,
    USER2_ID,
    USER_AAD,
    TeamsChannel,
)


async def targets(registry: ConversationRegistry) -> set[str]:
    return {c.conversation_id for c in await registry.list_alert_targets()}


# members added -------------------------------------------------------------------------------


async def test_bot_added_to_personal_chat_registers_it_and_welcomes_once(
    teams: TeamsChannel, registry: ConversationRegistry, connector: ConnectorStandIn
) -> None:
    await teams.ok("personal_bot_added")
    await teams.ok("personal_bot_added")  # Teams may deliver the event again

    stored = await registry.get_conversation(TENANT, PERSONAL)
    assert stored is not None
    assert stored.scope is Scope.PERSONAL and stored.status is Status.ACTIVE
    assert stored.user_aad_object_id == USER_AAD
    assert stored.reference["conversation"]["id"] == PERSONAL
    assert stored.reference["bot"]["id"] == BOT_ID
    assert stored.reference["serviceUrl"] == connector.url
    assert "activityId" not in stored.reference
    await teams.drained()
    assert connector.texts(PERSONAL) == [WELCOME_TEXT]
    assert "I'll post alerts here" in WELCOME_TEXT and "Type **help**" in WELCOME_TEXT
    assert await targets(registry) == {PERSONAL}


async def test_bot_added_to_group_chat_registers_it_and_welcomes(
    teams: TeamsChannel, registry: ConversationRegistry, connector: ConnectorStandIn
) -> None:
    await teams.ok("groupchat_bot_added")

    stored = await registry.get_conversation(TENANT, GROUP)
    assert stored is not None and stored.scope is Scope.GROUP_CHAT
    await teams.drained()
    [welcome] = connector.texts(GROUP)
    assert welcome == welcome_text(Scope.GROUP_CHAT)
    assert "Alerts don't come to group chats by default" in welcome
    assert "**@HeatWatch subscribe**" in welcome and "Type **help**" not in welcome
    # Group chats are registered but are not default alert targets (issue: targets).
    assert await targets(registry) == set()


async def test_bot_added_to_team_registers_team_selected_channel_and_general(
    teams: TeamsChannel, registry: ConversationRegistry, connector: ConnectorStandIn
) -> None:
    await teams.ok("team_bot_added")

    team = await registry.get_team(TENANT, TEAM)
    assert team is not None and team.name == "Datacenter Ops" and team.status is Status.ACTIVE
    assert team.alert_channel_id == CHANNEL
    channel = await registry.get_conversation(TENANT, CHANNEL)
    general = await registry.get_conversation(TENANT, TEAM)
    assert channel is not None and channel.channel_name == "Server Room"
    assert general is not None and general.channel_name == "General"
    assert general.reference["conversation"]["id"] == TEAM
    # The welcome goes where the bot was added: the selected channel.
    await teams.drained()
    assert connector.texts(CHANNEL) == [welcome_text(Scope.CHANNEL)]
    assert await targets(registry) == {CHANNEL}


async def test_user_added_to_team_is_remembered_with_roster_details(
    teams: TeamsChannel, registry: ConversationRegistry, connector: ConnectorStandIn
) -> None:
    connector.members[USER2_ID] = Member(
        USER2_ID, "Adele Vance", USER2_AAD, "adele@contoso.com", "adele@contoso.com"
    )
    await teams.ok("team_bot_added")
    await teams.ok("team_member_added")

    members = await registry.list_members(TENANT, TEAM)
    assert [(m.user_id, m.name, m.user_principal_name) for m in members] == [
        (USER2_ID, "Adele Vance", "adele@contoso.com")
    ]
    lookups = [r for r in connector.received if r.method == "GET" and "/members/" in r.path]
    assert lookups, "the bot asks the connector for the new member's details"


async def test_user_added_is_remembered_even_when_roster_lookup_fails(
    teams: TeamsChannel, registry: ConversationRegistry, connector: ConnectorStandIn
) -> None:
    # The stand-in knows no members, so the lookup answers 404 MemberNotFoundInConversation.
    await teams.ok("groupchat_member_added")

    members = await registry.list_members(TENANT, GROUP)
    assert [(m.user_id, m.aad_object_id) for m in members] == [(USER2_ID, USER2_AAD)]


# members removed -----------------------------------------------------------------------------


async def test_user_removed_from_team_is_forgotten(
    teams: TeamsChannel, registry: ConversationRegistry
) -> None:
    await teams.ok("team_bot_added")
    await teams.ok("team_member_added")
    await teams.ok("team_member_removed")

    assert await registry.list_members(TENANT, TEAM) == []


async def test_bot_removed_from_personal_chat_is_no_longer_deliverable(
    teams: TeamsChannel, registry: ConversationRegistry
) -> None:
    await teams.ok("personal_bot_added")
    await teams.ok("personal_bot_removed")

    stored = await registry.get_conversation(TENANT, PERSONAL)
    assert stored is not None and stored.status is Status.REMOVED
    assert await targets(registry) == set()


async def test_bot_removed_from_group_chat_is_no_longer_deliverable(
    teams: TeamsChannel, registry: ConversationRegistry
) -> None:
    await teams.ok("groupchat_bot_added")
    await teams.ok("groupchat_bot_removed")

    stored = await registry.get_conversation(TENANT, GROUP)
    assert stored is not None and stored.status is Status.REMOVED


async def test_bot_removed_from_team_removes_every_channel(
    teams: TeamsChannel, registry: ConversationRegistry
) -> None:
    await teams.ok("team_bot_added")
    await teams.ok("channel_created")
    await teams.ok("team_bot_removed")

    channels = await registry.list_conversations(team_id=TEAM)
    assert {c.conversation_id for c in channels} == {TEAM, CHANNEL, NEW_CHANNEL}
    assert {c.status for c in channels} == {Status.REMOVED}
    assert await targets(registry) == set()

    await teams.ok("team_bot_added")  # added back: everything deliverable again
    assert await targets(registry) == {CHANNEL}


# installationUpdate --------------------------------------------------------------------------


async def test_install_add_in_team_keeps_the_selected_channel(
    teams: TeamsChannel, registry: ConversationRegistry, connector: ConnectorStandIn
) -> None:
    await teams.ok("install_add_team")

    team = await registry.get_team(TENANT, TEAM)
    assert team is not None and team.alert_channel_id == CHANNEL
    assert await targets(registry) == {CHANNEL}
    await teams.drained()
    assert connector.texts(CHANNEL) == [welcome_text(Scope.CHANNEL)]

    await teams.ok("team_bot_added")  # the conversationUpdate that follows: no second welcome
    await teams.drained()
    assert connector.texts(CHANNEL) == [welcome_text(Scope.CHANNEL)]


async def test_install_add_personal_and_group_chat_register_them(
    teams: TeamsChannel, registry: ConversationRegistry
) -> None:
    await teams.ok("install_add_personal")
    await teams.ok("install_add_groupchat")

    assert {c.conversation_id for c in await registry.list_conversations()} == {PERSONAL, GROUP}


async def test_install_remove_personal_deletes_everything_stored_about_it(
    teams: TeamsChannel, registry: ConversationRegistry
) -> None:
    await teams.ok("install_add_personal")
    await teams.ok("install_remove_personal")

    assert await registry.get_conversation(TENANT, PERSONAL) is None


async def test_install_remove_team_deletes_team_channels_members_and_reactions(
    teams: TeamsChannel, registry: ConversationRegistry
) -> None:
    await teams.ok("install_add_team")
    await teams.ok("team_member_added")
    await teams.ok("reactions_added_channel")
    await teams.ok("install_remove_team")

    assert await registry.get_team(TENANT, TEAM) is None
    assert await registry.list_conversations(team_id=TEAM) == []
    assert await registry.list_members(TENANT, TEAM) == []
    assert await registry.list_reactions(TENANT, CHANNEL, "1575667808184") == []


async def test_remove_upgrade_marks_uninstalled_and_add_upgrade_brings_it_back(
    teams: TeamsChannel, registry: ConversationRegistry, connector: ConnectorStandIn
) -> None:
    await teams.ok("install_add_personal")
    await teams.drained()  # the welcome went out before the upgrade removed the bot
    await teams.ok("install_add_personal", action="remove-upgrade")
    stored = await registry.get_conversation(TENANT, PERSONAL)
    assert stored is not None and stored.status is Status.UNINSTALLED

    await teams.ok("install_add_personal", action="add-upgrade")
    stored = await registry.get_conversation(TENANT, PERSONAL)
    assert stored is not None and stored.status is Status.ACTIVE
    await teams.drained()
    assert connector.texts(PERSONAL) == [WELCOME_TEXT]  # only from the first install


# channels ------------------------------------------------------------------------------------


async def test_channel_lifecycle(teams: TeamsChannel, registry: ConversationRegistry) -> None:
    await teams.ok("team_bot_added")

    await teams.ok("channel_created")
    created = await registry.get_conversation(TENANT, NEW_CHANNEL)
    assert created is not None and created.channel_name == "Cooling"
    assert created.status is Status.ACTIVE and created.team_id == TEAM
    assert created.reference["conversation"]["id"] == NEW_CHANNEL

    await teams.ok("channel_renamed")
    renamed = await registry.get_conversation(TENANT, NEW_CHANNEL)
    assert renamed is not None and renamed.channel_name == "Cooling and Power"

    await teams.ok("channel_deleted")
    deleted = await registry.get_conversation(TENANT, NEW_CHANNEL)
    assert deleted is not None and deleted.status is Status.REMOVED

    await teams.ok("channel_restored")
    restored = await registry.get_conversation(TENANT, NEW_CHANNEL)
    assert restored is not None and restored.status is Status.ACTIVE


async def test_deleting_the_alert_channel_falls_back_to_general(
    teams: TeamsChannel, registry: ConversationRegistry
) -> None:
    await teams.ok("team_bot_added")
    channel_event = {"id": CHANNEL, "name": "Server Room"}
    await teams.ok("channel_deleted", channelData={
        "channel": channel_event, "team": {"id": TEAM}, "eventType": "channelDeleted",
        "tenant": {"id": TENANT}})
    assert await targets(registry) == {TEAM}

    await teams.ok("channel_restored", channelData={
        "channel": channel_event, "team": {"id": TEAM}, "eventType": "channelRestored",
        "tenant": {"id": TENANT}})
    assert await targets(registry) == {CHANNEL}


# teams ---------------------------------------------------------------------------------------


async def test_team_renamed_updates_team_and_its_channels(
    teams: TeamsChannel, registry: ConversationRegistry
) -> None:
    await teams.ok("team_bot_added")
    await teams.ok("team_renamed")

    team = await registry.get_team(TENANT, TEAM)
    assert team is not None and team.name == "Datacenter Operations"
    channel = await registry.get_conversation(TENANT, CHANNEL)
    assert channel is not None and channel.team_name == "Datacenter Operations"


async def test_team_archive_pauses_and_unarchive_resumes_exactly_what_was_active(
    teams: TeamsChannel, registry: ConversationRegistry
) -> None:
    await teams.ok("team_bot_added")
    await teams.ok("channel_created")
    await teams.ok("channel_deleted")

    await teams.ok("team_archived")
    statuses = {c.conversation_id: c.status for c in await registry.list_conversations()}
    assert statuses == {TEAM: Status.PAUSED, CHANNEL: Status.PAUSED, NEW_CHANNEL: Status.PAUSED}
    assert await targets(registry) == set()

    await teams.ok("team_unarchived")
    statuses = {c.conversation_id: c.status for c in await registry.list_conversations()}
    assert statuses == {TEAM: Status.ACTIVE, CHANNEL: Status.ACTIVE,
                        NEW_CHANNEL: Status.REMOVED}
    assert await targets(registry) == {CHANNEL}


async def test_team_deleted_then_restored(
    teams: TeamsChannel, registry: ConversationRegistry
) -> None:
    await teams.ok("team_bot_added")

    await teams.ok("team_deleted")
    team = await registry.get_team(TENANT, TEAM)
    assert team is not None and team.status is Status.REMOVED
    assert await targets(registry) == set()

    # Microsoft's docs show this event as "teamrestored"; it must still be understood.
    await teams.ok("team_restored")
    team = await registry.get_team(TENANT, TEAM)
    assert team is not None and team.status is Status.ACTIVE
    assert await targets(registry) == {CHANNEL}


async def test_team_hard_deleted_forgets_the_team(
    teams: TeamsChannel, registry: ConversationRegistry
) -> None:
    await teams.ok("team_bot_added")
    await teams.ok("team_member_added")
    await teams.ok("team_hard_deleted")

    assert await registry.get_team(TENANT, TEAM) is None
    assert await registry.list_conversations() == []
    assert await registry.list_members(TENANT, TEAM) == []


async def test_team_events_for_an_unknown_team_learn_it(
    teams: TeamsChannel, registry: ConversationRegistry
) -> None:
    await teams.ok("team_archived")

    team = await registry.get_team(TENANT, TEAM)
    assert team is not None and team.status is Status.PAUSED


# reactions -----------------------------------------------------------------------------------


async def test_reactions_are_recorded_against_the_message_and_removed(
    teams: TeamsChannel, registry: ConversationRegistry
) -> None:
    await teams.ok("team_bot_added")
    await teams.ok("reactions_added_channel")
    await teams.ok("reactions_added_channel")  # the same reaction twice is one reaction

    reactions = await registry.list_reactions(TENANT, CHANNEL, "1575667808184")
    assert [(r.reaction_type, r.user_aad_object_id) for r in reactions] == [("like", USER_AAD)]

    await teams.ok("reactions_removed_channel")
    assert await registry.list_reactions(TENANT, CHANNEL, "1575667808184") == []


# messages, unknown activities, serviceUrl ----------------------------------------------------


async def test_message_gets_help_and_teaches_the_registry_a_lost_conversation(
    teams: TeamsChannel, registry: ConversationRegistry, connector: ConnectorStandIn
) -> None:
    await teams.ok("message_personal")

    await teams.drained()
    assert connector.texts(PERSONAL) == [HELP_TEXT]
    stored = await registry.get_conversation(TENANT, PERSONAL)
    assert stored is not None and stored.status is Status.ACTIVE
    assert await targets(registry) == {PERSONAL}


async def test_channel_message_reply_goes_to_the_thread_and_registers_the_channel(
    teams: TeamsChannel, registry: ConversationRegistry, connector: ConnectorStandIn
) -> None:
    await teams.ok("message_channel")

    thread = CHANNEL + ";messageid=1481567603816"
    await teams.drained()
    assert connector.texts(thread) == [help_text(Scope.CHANNEL)]  # how to talk in a channel
    assert "@mention me" in help_text(Scope.CHANNEL)
    stored = await registry.get_conversation(TENANT, CHANNEL)
    assert stored is not None and stored.reference["conversation"]["id"] == CHANNEL


async def test_unknown_activities_and_events_get_200_and_change_nothing(
    teams: TeamsChannel, registry: ConversationRegistry, connector: ConnectorStandIn
) -> None:
    for name in ("event_read_receipt", "unknown_activity_type",
                 "conversation_update_unknown_event"):
        await teams.ok(name)
    assert await registry.list_conversations() == []
    await teams.drained()  # anything queued would have been sent by now
    assert connector.sent() == []


async def test_every_activity_refreshes_the_service_url(
    teams: TeamsChannel, registry: ConversationRegistry, connector: ConnectorStandIn
) -> None:
    await teams.ok("team_bot_added")
    moved = connector.url + "emea/"

    await teams.ok("team_renamed", serviceUrl=moved)

    for conversation in await registry.list_conversations(team_id=TEAM):
        assert conversation.service_url == moved
        assert conversation.reference["serviceUrl"] == moved
