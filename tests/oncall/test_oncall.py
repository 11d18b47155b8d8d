# ruff: noqa: F811 (the shared fixtures of tests/support/delivery.py are imported)
"""The on-call flow through the real endpoint, real databases and the connector stand-in:
acknowledging (once), undoing, snoozing (and its undo and break-through), muting, the audit
trail and `history`."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from common.clock import utcnow
from common.settings import load_settings
from heatwatch.server import SERVICES, create_app
from notifier.alerts.events import EventKind, Severity
from storage.audit import AuditEntry, AuditLog
from tests.standins.connector import ConnectorStandIn, Member
from tests.support.delivery import (  # noqa: F401 (fixtures)
    alert_event,
    card_of,
    client,
    delivery_env,
    installed,
    new_alert_id,
    publish,
)
from tests.support.teams import (
    CHANNEL,
    GROUP,
    PERSONAL,
    USER2_AAD,
    USER2_ID,
    TeamsChannel,
    card_text,
    load_activity,
)
from tests.support.waiting import eventually, eventually_async, outbox_drained

ALEX = {"id": USER2_ID, "aadObjectId": USER2_AAD, "name": "Alex Wilber"}


async def say(teams: TeamsChannel, connector: ConnectorStandIn, text: str,
              who: dict[str, str] | None = None) -> str:
    """A chat command in the personal chat; the bot's answer."""
    before = len(connector.texts(PERSONAL))
    overrides: dict[str, Any] = {"text": text}
    if who is not None:
        overrides["from"] = who
    await teams.ok("message_personal", **overrides)
    return connector.texts(PERSONAL)[before]


async def press(client: TestClient, connector: ConnectorStandIn, verb: str, alert_id: str,
                who: dict[str, str] | None = None, **data: Any) -> dict[str, Any]:
    """A card button in the personal chat; the invoke response body."""
    action = load_activity("card_action", connector.url)
    action["value"]["action"].update(verb=verb, data={"alertId": alert_id, **data})
    if who is not None:
        action["from"] = who
    response = await client.post("/api/messages", json=action)
    assert response.status == 200
    return await response.json()


async def fired(client: TestClient, connector: ConnectorStandIn,
                severity: Severity = Severity.WARN) -> str:
    alert_id = new_alert_id()
    await publish(client, alert_event(EventKind.FIRED, alert_id, severity))
    await eventually(lambda: len(connector.cards(PERSONAL)) == 1 and connector.cards(CHANNEL))
    return alert_id


def notes(connector: ConnectorStandIn, conversation_id: str) -> list[str]:
    """The text messages (not cards) a conversation got."""
    return [text for text in connector.texts(conversation_id) if text]


def verbs(card: dict[str, Any]) -> list[str]:
    return [a["verb"] for a in card.get("actions", []) if a["type"] == "Action.Execute"]


# acknowledging -------------------------------------------------------------------------------


async def test_a_second_acknowledgement_changes_nothing_and_says_who_was_first(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    alert_id = await fired(client, connector)
    body = await press(client, connector, "ack", alert_id)
    assert re.search(r"Acknowledged by Megan Bowen at \{\{DATE\(\d{4}-\d\d-\d\dT\d\d:\d\d:"
                     r"\d\dZ, SHORT\)\}\} \{\{TIME\([0-9T:Z-]+\)\}\}",  # no frozen "ago"
                     card_text(body["value"]))
    await eventually(lambda: len(connector.updates()) == 2)
    first = card_text(card_of(connector.updates(PERSONAL)[-1]))

    # The same person again by command, someone else by the button, and a 👍 in the channel:
    # all say who was first, and nothing changes.
    again = await say(installed, connector, f"ack {alert_id[:8]}", who=ALEX)
    assert again.startswith("Already acknowledged by Megan Bowen at ")
    assert again.endswith("Nothing changed.")
    body = await press(client, connector, "ack", alert_id, who=ALEX)
    assert body["type"] == "application/vnd.microsoft.activity.message"
    assert body["value"] == again
    card_id = connector.cards(CHANNEL)[0].answered_id
    await installed.ok("reactions_added_channel", replyToId=card_id)
    await eventually(lambda: again in connector.texts(CHANNEL))
    await outbox_drained(client.app)  # all it planned has been sent
    assert len(connector.updates()) == 2  # no card changed
    assert card_text(card_of(connector.updates(PERSONAL)[-1])) == first


async def test_anyone_can_undo_an_acknowledgement_and_it_is_recorded(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn,
    caplog: pytest.LogCaptureFixture
) -> None:
    alert_id = await fired(client, connector)
    with caplog.at_level(logging.INFO):
        await say(installed, connector, f"ack {alert_id[:8]}")
        undone = await say(installed, connector, f"unack {alert_id[:8]}", who=ALEX)
    assert undone.startswith("Alex Wilber undid the acknowledgement of")
    assert "(by Megan Bowen)" in undone
    await eventually(lambda: len(connector.updates(PERSONAL)) == 2)
    card = card_of(connector.updates(PERSONAL)[-1])
    assert "Acknowledged by" not in card_text(card) and verbs(card)[0] == "ack"
    assert (await say(installed, connector, f"unack {alert_id[:8]}")).endswith(
        "is not acknowledged; nothing changed.")
    assert f"Audit: acknowledged {alert_id[:8]} by Megan Bowen in {PERSONAL}" in caplog.text
    assert f"Audit: unacknowledged {alert_id[:8]} by Alex Wilber" in caplog.text

    timeline = await say(installed, connector, f"history {alert_id[:8]}")
    assert timeline.startswith(f"Timeline of `{alert_id[:8]}`")
    steps = timeline.split("\n\n", 1)[1].splitlines()
    assert [step.split("**")[1] for step in steps] == ["fired", "acknowledged",
                                                       "unacknowledged"]
    assert "by Alex Wilber (here)" in steps[2]


# snoozing ------------------------------------------------------------------------------------


async def test_a_snoozed_card_says_who_until_when_and_offers_only_its_undo(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    alert_id = await fired(client, connector)
    assert verbs(card_of(connector.cards(PERSONAL)[0])) == ["ack", "snooze", "snooze"]

    body = await press(client, connector, "snooze", alert_id, hours=1)
    assert "Snoozed here by Megan Bowen until" in card_text(body["value"])
    assert verbs(body["value"]) == ["ack", "unsnooze"]
    await eventually(lambda: len(connector.updates(PERSONAL)) == 1)
    assert verbs(card_of(connector.updates(PERSONAL)[0])) == ["ack", "unsnooze"]
    assert not connector.updates(CHANNEL)  # snoozed here only

    body = await press(client, connector, "unsnooze", alert_id)
    assert "Snoozed" not in card_text(body["value"])
    assert verbs(body["value"]) == ["ack", "snooze", "snooze"]
    assert (await say(installed, connector, f"unsnooze {alert_id[:8]}")).endswith(
        "is not snoozed here; nothing changed.")


async def test_snooze_commands_and_alerts_say_what_is_snoozed_or_muted_here(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    alert_id = await fired(client, connector)
    assert "For how long?" in await say(installed, connector, f"snooze {alert_id[:8]}")
    snoozed = await say(installed, connector, f"snooze {alert_id[:8]} 2h")
    assert snoozed.startswith(f"Snoozed `{alert_id[:8]}`")
    assert "A critical escalation still comes through." in snoozed
    listed = await say(installed, connector, "alerts")
    assert f"`{alert_id[:8]}`" in listed and "snoozed here until" in listed
    await say(installed, connector, "mute 1h")
    listed = await say(installed, connector, "alerts")
    assert listed.startswith("**Muted here** until")
    assert (await say(installed, connector, f"unsnooze {alert_id[:8]}")).startswith(
        f"Snooze of `{alert_id[:8]}`")
    assert "snoozed here" not in await say(installed, connector, "alerts")


async def test_a_critical_escalation_breaks_through_a_snooze_of_a_warning(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    # As in the issue: snoozed, the alert ends, the sensor fires again (still snoozed here)...
    first = await fired(client, connector)
    await say(installed, connector, f"snooze {first[:8]} 24h")
    await publish(client, alert_event(EventKind.RESOLVED, first, None, 25.0, None))
    await eventually(lambda: len(connector.updates(CHANNEL)) == 1)
    second = new_alert_id()
    await publish(client, alert_event(EventKind.FIRED, second))
    await eventually(lambda: len(connector.cards(CHANNEL)) == 2)
    await outbox_drained(client.app)  # all it planned has been sent
    assert len(connector.cards(PERSONAL)) == 1  # the warning stays snoozed here

    # ...and becomes critical: that reaches the chat, and says why.
    await publish(client, alert_event(EventKind.ESCALATED, second, Severity.CRIT, 33.0, 32.0))
    await eventually(lambda: len(connector.cards(PERSONAL)) == 2)
    card = card_of(connector.cards(PERSONAL)[-1])
    assert "CRITICAL: server-room-temperature" in card_text(card)
    assert "but it became critical: this breaks through the snooze" in card_text(card)
    await eventually(lambda: connector.texts(PERSONAL)[-1].startswith("Now CRITICAL:"))
    assert "breaks through the snooze here" in connector.texts(PERSONAL)[-1]
    assert "(broken through: it became critical)" in await say(installed, connector, "alerts")


async def texts_queued(client: TestClient, alert_id: str, conversation_id: str) -> list[str]:
    """The texts about the alert committed to the outbox for a conversation (sent or not)."""
    rows = await client.app[SERVICES].database.fetch_all(
        "SELECT payload FROM deliveries WHERE alert_id = ? AND conversation_id = ? AND "
        "operation = 'text' ORDER BY created_at", (alert_id, conversation_id))
    return [row["payload"] for row in rows]


async def test_a_chat_told_of_the_critical_is_told_of_its_end_though_it_snoozed_the_warning(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    """As in the issue: snooze a warning, it goes critical (told: it breaks through), someone
    acknowledges, it cools to a warning, then resolves: the chat told of the critical is told
    it resolved. The snooze was broken for the rest of the incident."""
    alert_id = await fired(client, connector)
    await say(installed, connector, f"snooze {alert_id[:8]} 24h")
    await publish(client, alert_event(EventKind.ESCALATED, alert_id, Severity.CRIT, 33.0, 32.0))
    await eventually(lambda: any(t.startswith("Now CRITICAL:") for t in notes(connector,
                                                                               PERSONAL)))
    await press(client, connector, "ack", alert_id)
    await publish(client, alert_event(EventKind.DEESCALATED, alert_id, Severity.WARN, 29.0))
    await publish(client, alert_event(EventKind.RESOLVED, alert_id, None, 25.0, None))
    [resolved] = [t for t in await texts_queued(client, alert_id, PERSONAL)
                  if t.startswith("Resolved:")]
    await eventually(lambda: resolved in notes(connector, PERSONAL))


async def test_a_snooze_made_after_the_break_through_holds_and_the_next_incident_has_it_whole(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    first = await fired(client, connector)
    await say(installed, connector, f"snooze {first[:8]} 24h")
    await publish(client, alert_event(EventKind.ESCALATED, first, Severity.CRIT, 33.0, 32.0))
    assert any(t.startswith("Now CRITICAL:") for t in await texts_queued(client, first,
                                                                          PERSONAL))
    await say(installed, connector, f"snooze {first[:8]} 2h")  # snoozed again, at critical
    await publish(client, alert_event(EventKind.RESOLVED, first, None, 25.0, None))
    assert not [t for t in await texts_queued(client, first, PERSONAL)
                if t.startswith("Resolved:")]
    assert [t for t in await texts_queued(client, first, CHANNEL) if t.startswith("Resolved:")]

    # The next incidents start with the snooze whole: a snoozed warning is quiet to its end;
    # one that opens critical breaks through, and its end is told.
    await say(installed, connector, "unsnooze " + first[:8])
    second = new_alert_id()
    await publish(client, alert_event(EventKind.FIRED, second))
    await say(installed, connector, f"snooze {second[:8]} 24h")
    await publish(client, alert_event(EventKind.RESOLVED, second, None, 25.0, None))
    third = new_alert_id()
    await publish(client, alert_event(EventKind.FIRED, third, Severity.CRIT, 33.0, 32.0))
    await publish(client, alert_event(EventKind.RESOLVED, third, None, 25.0, None))
    assert not [t for t in await texts_queued(client, second, PERSONAL)
                if t.startswith("Resolved:")]
    assert [t for t in await texts_queued(client, third, PERSONAL) if t.startswith("Resolved:")]


# muting --------------------------------------------------------------------------------------


async def test_mute_and_unmute_say_exactly_what_they_changed(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    assert await say(installed, connector, "unmute") == (
        "Nothing was muted here, so nothing changed: alerts already come to this conversation.")
    assert (await say(installed, connector, "mute 2h")).startswith("Muted here until")
    again = await say(installed, connector, "mute 30m", who=ALEX)
    assert "It was muted until" in again and "(by Megan Bowen)" in again
    unmuted = await say(installed, connector, "unmute")
    assert unmuted.startswith("Unmuted: alerts come to this conversation again (it was muted "
                              "by Alex Wilber until")


# history -------------------------------------------------------------------------------------


async def test_history_lists_incidents_with_who_acknowledged_and_the_timeline(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    alert_id = await fired(client, connector)
    await press(client, connector, "snooze", alert_id, hours=1)
    await say(installed, connector, f"ack {alert_id[:8]}", who=ALEX)
    await publish(client, alert_event(EventKind.ESCALATED, alert_id, Severity.CRIT, 34.5, 32.0))
    await publish(client, alert_event(EventKind.RESOLVED, alert_id, None, 25.0, None))
    await eventually(lambda: connector.texts(CHANNEL) and any(
        t.startswith("Now CRITICAL") for t in connector.texts(PERSONAL)) and any(
        t.startswith("Resolved:") for t in connector.texts(PERSONAL)))  # broken: told the end

    listed = await say(installed, connector, "history")
    [line] = [line for line in listed.splitlines() if alert_id[:8] in line]
    assert "**server-room-temperature, room r1, sensor s1**" in line
    assert re.search(r"fired at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, ended at .* UTC \(after ",
                     line)  # in UTC: this activity carries no time zone
    assert "timeline; times in UTC: Teams did not tell me your time zone):" in listed
    assert "peak 34.5 °C" in line
    assert "acknowledged by Alex Wilber after " in line

    timeline = await say(installed, connector, f"history {alert_id[:8]}")
    steps = timeline.split("\n\n", 1)[1].splitlines()
    assert [step.split("**")[1] for step in steps] == [
        "fired", "snoozed", "acknowledged", "became critical", "resolved"]
    assert "by Megan Bowen (here): until" in steps[1]
    assert "by Alex Wilber (here)" in steps[2]
    assert await say(installed, connector, "history nope") == "No alert `nope` found here."


# escalation ----------------------------------------------------------------------------------


ESCALATING_RULE = f"""
[[rule]]
name = "server-room-temperature"
measurement = "temperature"
warn_above = 27.0
crit_above = 32.0
escalate_after = "10m"
escalate_to = ["conversation:{GROUP}", "user:{USER2_AAD}"]
"""


@pytest.fixture
def escalating_env(delivery_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    rules = tmp_path / "rules.toml"
    rules.write_text(ESCALATING_RULE)
    return {**delivery_env, "RULES_FILE": str(rules)}


@pytest.fixture
async def escalating(aiohttp_client: Any, escalating_env: dict[str, str]) -> TestClient:
    return await aiohttp_client(create_app(load_settings(environ=escalating_env,
                                                         env_file=None)))


async def installed_in(client: TestClient, connector: ConnectorStandIn) -> TeamsChannel:
    teams = TeamsChannel(client, connector.url)
    for name in ("personal_bot_added", "team_bot_added", "groupchat_bot_added"):
        await teams.ok(name)
    await teams.drained()  # the welcomes
    connector.clear()
    return teams


async def test_an_unacknowledged_critical_escalates_once_with_mentions_in_threads(
    escalating: TestClient, connector: ConnectorStandIn
) -> None:
    teams = await installed_in(escalating, connector)
    alert_id = await fired(escalating, connector, Severity.CRIT)
    card_id = connector.cards(CHANNEL)[0].answered_id
    escalator = escalating.app[SERVICES].escalator
    now = utcnow()

    assert await escalator.check(now + timedelta(minutes=9)) == 0  # not yet
    assert await escalator.check(now + timedelta(minutes=11)) == 1
    await eventually(lambda: notes(connector, GROUP) and notes(connector, PERSONAL))
    # The group chat, named by the rule, gets the card and the note; the chats already told
    # get the note, in the channel as a reply in the card's thread.
    assert len(connector.cards(GROUP)) == 1
    [note] = notes(connector, GROUP)
    assert note.startswith("<at>on call</at> Escalated: nobody acknowledged "
                           "**server-room-temperature** (room r1, sensor s1, now 28.5 °C) for "
                           "11 min; told: a group chat.")
    [mention] = [r.body["entities"] for r in connector.sent(GROUP) if r.body.get("text")]
    assert mention == [{"type": "mention", "text": "<at>on call</at>",
                        "mentioned": {"id": USER2_AAD, "name": "on call"}}]
    thread = f"{CHANNEL};messageid={card_id}"
    await eventually(lambda: notes(connector, thread))
    assert notes(connector, thread)[0].startswith("<at>on call</at> Escalated:")
    assert not notes(connector, CHANNEL)  # no new top-level post
    assert notes(connector, PERSONAL)[-1].startswith("Escalated:")  # no mentions in a 1:1

    # Once: later checks (this replica or another) find it done.
    sent = len(connector.sent())
    assert await escalator.check(now + timedelta(minutes=30)) == 0
    await outbox_drained(escalating.app)  # all it planned has been sent
    assert len(connector.sent()) == sent
    timeline = await say(teams, connector, f"history {alert_id[:8]}")
    assert "**escalated**: nobody acknowledged for 11 min; told: a group chat" in timeline

    # The end: resolved, in the channel again as a thread reply.
    await publish(escalating, alert_event(EventKind.RESOLVED, alert_id, None, 25.0, None))
    await eventually(lambda: any(t.startswith("Resolved:") for t in notes(connector, thread)))
    assert not notes(connector, CHANNEL)


async def test_an_acknowledged_critical_does_not_escalate(
    escalating: TestClient, connector: ConnectorStandIn
) -> None:
    teams = await installed_in(escalating, connector)
    alert_id = await fired(escalating, connector, Severity.CRIT)
    await say(teams, connector, f"ack {alert_id[:8]}")
    assert await escalating.app[SERVICES].escalator.check(utcnow() + timedelta(hours=2)) == 0
    await outbox_drained(escalating.app)  # all it planned has been sent
    assert not connector.sent(GROUP)


async def test_a_restart_in_the_middle_of_the_wait_still_escalates_once(
    aiohttp_client: Any, escalating_env: dict[str, str], connector: ConnectorStandIn
) -> None:
    first = await aiohttp_client(create_app(load_settings(environ=escalating_env,
                                                          env_file=None)))
    await installed_in(first, connector)
    await fired(first, connector, Severity.CRIT)
    now = utcnow()
    assert await first.app[SERVICES].escalator.check(now + timedelta(minutes=5)) == 0
    await first.close()  # stopped five minutes into the wait

    second = await aiohttp_client(create_app(load_settings(environ=escalating_env,
                                                           env_file=None)))
    assert await second.app[SERVICES].escalator.check(now + timedelta(minutes=10)) == 1
    await eventually(lambda: notes(connector, GROUP))
    third = await aiohttp_client(create_app(load_settings(environ=escalating_env,
                                                          env_file=None)))
    assert await third.app[SERVICES].escalator.check(now + timedelta(minutes=20)) == 0  # a replica
    assert await second.app[SERVICES].escalator.check(now + timedelta(minutes=20)) == 0
    await outbox_drained(second.app)  # all it planned has been sent
    assert len(notes(connector, GROUP)) == 1 and len(connector.cards(GROUP)) == 1


async def test_replicas_checking_at_the_same_moment_escalate_once(
    aiohttp_client: Any, escalating_env: dict[str, str], connector: ConnectorStandIn
) -> None:
    replicas = [await aiohttp_client(create_app(load_settings(environ=escalating_env,
                                                              env_file=None)))
                for _ in range(3)]
    await installed_in(replicas[0], connector)
    await fired(replicas[0], connector, Severity.CRIT)
    later = utcnow() + timedelta(minutes=11)
    done = await asyncio.gather(*(r.app[SERVICES].escalator.check(later) for r in replicas))
    assert sorted(done) == [0, 0, 1]
    await eventually(lambda: notes(connector, GROUP))
    await outbox_drained(replicas[0].app)  # all it planned has been sent
    assert len(notes(connector, GROUP)) == 1 and len(connector.cards(GROUP)) == 1


# retention -----------------------------------------------------------------------------------


async def test_old_audit_entries_are_pruned_after_the_retention_period(
    aiohttp_client: Any, delivery_env: dict[str, str], connector: ConnectorStandIn
) -> None:
    env = {**delivery_env, "AUDIT_RETENTION_DAYS": "30"}
    first = await aiohttp_client(create_app(load_settings(environ=env, env_file=None)))
    audit = AuditLog(first.app[SERVICES].database)
    now = utcnow()
    for days in (31, 29):
        await audit.record(AuditEntry("muted", now - timedelta(days=days), "Megan Bowen",
                                      alert_id="a1", detail=f"{days} days ago"))
    await first.close()

    second = await aiohttp_client(create_app(load_settings(environ=env, env_file=None)))
    audit = AuditLog(second.app[SERVICES].database)

    async def kept() -> list[str]:
        return [entry.detail for entry in await audit.of_alert("a1")]

    async def only_the_recent_one_kept() -> bool:
        return await kept() == ["29 days ago"]

    await eventually_async(only_the_recent_one_kept, what="the old audit entry pruned")


async def test_an_escalation_mentions_a_known_member_by_teams_id_and_name(
    escalating: TestClient, connector: ConnectorStandIn
) -> None:
    teams = await installed_in(escalating, connector)
    connector.members[USER2_ID] = Member(USER2_ID, "Alex Wilber", USER2_AAD)
    await teams.ok("groupchat_member_added")  # the bot learns Alex as a group chat member
    await fired(escalating, connector, Severity.CRIT)
    assert await escalating.app[SERVICES].escalator.check(utcnow() + timedelta(minutes=10)) == 1
    await eventually(lambda: notes(connector, GROUP))
    [message] = [r.body for r in connector.sent(GROUP) if r.body.get("text")]
    assert message["text"].startswith("<at>Alex Wilber</at> Escalated: nobody acknowledged")
    assert message["text"].endswith("told: Alex Wilber, a group chat.")
    assert message["entities"] == [{"type": "mention", "text": "<at>Alex Wilber</at>",
                                    "mentioned": {"id": USER2_ID, "name": "Alex Wilber"}}]


# channel threads -----------------------------------------------------------------------------


async def test_in_a_channel_the_end_of_an_incident_is_a_reply_in_the_cards_thread(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    alert_id = await fired(client, connector)
    thread = f"{CHANNEL};messageid={connector.cards(CHANNEL)[0].answered_id}"
    await publish(client, alert_event(EventKind.RESOLVED, alert_id, None, 25.0, None))
    await eventually(lambda: notes(connector, thread) and notes(connector, PERSONAL))
    assert notes(connector, thread)[0].startswith("Resolved: **server-room-temperature**")
    assert not notes(connector, CHANNEL)  # one top-level post per alert: the card
    assert notes(connector, PERSONAL)[0].startswith("Resolved:")  # a chat has no threads


async def test_a_muted_conversation_is_not_told_of_an_escalation(
    escalating: TestClient, connector: ConnectorStandIn
) -> None:
    teams = await installed_in(escalating, connector)
    group_chat = load_activity("groupchat_bot_added", connector.url)
    await teams.ok({**group_chat, "type": "message", "text": "mute 2h", "id": "1"})
    assert notes(connector, GROUP)[0].startswith("Muted here until")
    await fired(escalating, connector, Severity.CRIT)
    assert await escalating.app[SERVICES].escalator.check(utcnow() + timedelta(minutes=10)) == 1
    await eventually(lambda: notes(connector, PERSONAL))  # the chats already told: the note
    await outbox_drained(escalating.app)  # all it planned has been sent
    assert len(connector.sent(GROUP)) == 1  # only the answer to `mute`
