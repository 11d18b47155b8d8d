# ruff: noqa: F811 (the shared fixtures of tests/support/delivery.py are imported)
"""Proactive delivery through the real app: alert events -> durable outbox -> the Bot Connector
stand-in, with every error code the connector can answer, card updates in place, card actions,
reactions and chat commands. Storage is a real SQLite file."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from heatwatch.server import SERVICES
from notifier.alerts.events import AlertEvent, EventKind, Severity
from storage.models import Status
from storage.outbox import DeliveryStatus, Outbox
from storage.registry import ConversationRegistry
from tests.standins.connector import ConnectorStandIn, Fault
from tests.support.delivery import (  # noqa: F401 (fixtures)
    SERIES,
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
    TENANT,
    TeamsChannel,
    card_text,
    load_activity,
)
from tests.support.waiting import eventually, eventually_async, outbox_drained


async def alert_counts(client: TestClient) -> dict[str, int]:
    """Deliveries of alerts per status (welcomes and queued replies belong to no alert)."""
    rows = await client.app[SERVICES].database.fetch_all(
        "SELECT status, COUNT(*) AS n FROM deliveries WHERE alert_id <> '' GROUP BY status")
    return {row["status"]: int(row["n"]) for row in rows}


async def settled(client: TestClient, counts: dict[str, int], timeout: float = 10.0) -> None:
    """Wait until the outbox holds exactly these counts of alert deliveries per status."""
    async def reached() -> bool:
        return await alert_counts(client) == counts

    try:
        await eventually_async(reached, timeout, f"alert deliveries {counts}")
    except AssertionError as error:
        raise AssertionError(f"{error}; now {await alert_counts(client)}") from None


async def planned(client: TestClient, alert_id: str, operation: str) -> list[str]:
    """The conversations the outbox holds deliveries of this alert and operation for."""
    rows = await client.app[SERVICES].database.fetch_all(
        "SELECT conversation_id FROM deliveries WHERE alert_id = ? AND operation = ?",
        (alert_id, operation))
    return [row["conversation_id"] for row in rows]


async def client_drained(client: TestClient) -> None:
    """Every delivery planned so far has been sent (or parked): publishing commits the rows."""
    await outbox_drained(client.app)


def outbox(client: TestClient) -> Outbox:
    return Outbox(client.app[SERVICES].database)


# fan-out and cards ---------------------------------------------------------------------------


async def test_fired_alert_reaches_every_default_target_as_a_card(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    await publish(client, alert_event(EventKind.FIRED, new_alert_id()))

    await eventually(lambda: len(connector.sent()) == 2)
    assert {r.conversation_id for r in connector.sent()} == {PERSONAL, CHANNEL}  # not GROUP
    card = card_of(connector.sent(PERSONAL)[0])
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    assert [(a["type"], a["verb"], a["title"]) for a in card["actions"]] == [
        ("Action.Execute", "ack", "Acknowledge"), ("Action.Execute", "snooze", "Snooze 1 h"),
        ("Action.Execute", "snooze", "Snooze 24 h")]
    text = card_text(card)
    assert "Warning: server-room-temperature" in text
    assert "Room=r1" in text and "Sensor=s1" in text
    assert "Value=28.5 °C" in text and "Threshold=27 °C" in text
    # Times in each reader's own time zone (Teams' Adaptive Card date/time functions).
    assert ("Since={{DATE(2026-11-21T10:00:00Z, SHORT)}} {{TIME(2026-11-21T10:00:00Z)}}"
            in text)
    await settled(client, {"done": 2})


async def test_someone_who_installs_during_an_alert_gets_no_hint_of_it(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    """It was never told of the incident, so `alerts` would not show it there
    (notifier/chat/access.py): the welcome does not count it either."""
    await publish(client, alert_event(EventKind.FIRED, new_alert_id()))
    await settled(client, {"done": 2})

    newcomer = load_activity("personal_bot_added", connector.url)
    newcomer["conversation"]["id"] = PERSONAL + "-newcomer"
    await installed.post(newcomer)
    await installed.drained()
    [welcome] = connector.texts(PERSONAL + "-newcomer")
    assert welcome.startswith("Hi, I'm **HeatWatch**.")
    assert "firing" not in welcome


async def test_an_uninstall_racing_an_alert_sends_at_most_once_and_leaves_nothing_pending(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    await asyncio.gather(publish(client, alert_event(EventKind.FIRED, new_alert_id())),
                         installed.ok("install_remove_personal"))
    await eventually(lambda: connector.cards(CHANNEL))  # the team still gets its card
    await installed.drained()
    assert await ConversationRegistry(client.app[SERVICES].database).get_conversation(
        TENANT, PERSONAL) is None  # uninstalled: everything about the chat is gone
    cards = connector.cards(PERSONAL)
    assert len(cards) <= 1  # sent before the uninstall landed, or not at all
    if not cards:  # planned before the uninstall: parked with the reason; after: never planned
        parked = await outbox(client).list(DeliveryStatus.DEAD)
        assert [(d.conversation_id, d.last_error) for d in parked] in (
            [], [(PERSONAL, "conversation is unknown")])


async def test_escalation_and_resolution_update_the_same_card_in_place(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    alert_id = new_alert_id()
    await publish(client, alert_event(EventKind.FIRED, alert_id))
    await eventually(lambda: len(connector.sent()) == 2)
    posted = {r.conversation_id: r.answered_id for r in connector.sent()}

    await publish(client, alert_event(EventKind.ESCALATED, alert_id, Severity.CRIT, 33.0, 32.0))
    await eventually(lambda: len(connector.updates()) == 2)
    for update in connector.updates():
        assert update.activity_id == posted[update.conversation_id]
        assert "CRITICAL: server-room-temperature" in card_text(card_of(update))
        assert "Value=33 °C" in card_text(card_of(update))

    await publish(client, alert_event(EventKind.RESOLVED, alert_id, None, 25.0, None))
    await eventually(lambda: len(connector.updates()) == 4 and len(connector.sent()) == 4)
    resolved_card = card_of(connector.updates(PERSONAL)[-1])
    assert "Resolved: server-room-temperature" in card_text(resolved_card)
    assert "actions" not in resolved_card  # nothing left to acknowledge
    assert connector.texts(PERSONAL)[-1].startswith("Resolved: **server-room-temperature")
    assert len([r for r in connector.sent(PERSONAL) if "attachments" in r.body]) == 1


async def test_rule_targets_and_subscriptions_choose_the_audience(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    group_chat = load_activity("groupchat_bot_added", connector.url)
    await installed.ok({**group_chat, "type": "message", "text": "subscribe", "id": "1"})
    await installed.ok("message_personal", text="unsubscribe server-room-temperature")
    connector.clear()

    await publish(client, alert_event(EventKind.FIRED, new_alert_id()))

    await eventually(lambda: len(connector.sent()) == 2)
    assert {r.conversation_id for r in connector.sent()} == {CHANNEL, GROUP}


async def test_mute_silences_new_alerts_in_that_conversation(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    await installed.ok("message_personal", text="mute 2h")
    assert connector.texts(PERSONAL)[-1].startswith("Muted here until")
    connector.clear()

    await publish(client, alert_event(EventKind.FIRED, new_alert_id()))
    await installed.drained()  # every delivery planned for the alert has been sent
    assert {r.conversation_id for r in connector.sent()} == {CHANNEL}


# acting on alerts ----------------------------------------------------------------------------


async def test_acknowledge_button_answers_with_the_updated_card_and_updates_every_card(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    alert_id = new_alert_id()
    await publish(client, alert_event(EventKind.FIRED, alert_id))
    await eventually(lambda: len(connector.sent()) == 2)
    card_id = connector.sent(PERSONAL)[0].answered_id

    action = load_activity("card_action", connector.url, replyToId=card_id)
    action["value"]["action"]["data"]["alertId"] = alert_id
    response = await client.post("/api/messages", json=action)

    assert response.status == 200
    assert response.content_type == "application/json"
    body = await response.json()
    assert set(body) == {"statusCode", "type", "value"}
    assert body["statusCode"] == 200
    assert body["type"] == "application/vnd.microsoft.card.adaptive"
    assert "Acknowledged by Megan Bowen at" in card_text(body["value"])
    assert [a["verb"] for a in body["value"]["actions"]][0] == "unack"

    await eventually(lambda: len(connector.updates()) == 2)
    assert all("Acknowledged by Megan Bowen" in card_text(card_of(u))
               for u in connector.updates())

    # Acknowledged: reminders stop.
    await publish(client, alert_event(EventKind.REMINDER, alert_id))
    # Committed with the publish: no reminder text for an acknowledged alert (only the card,
    # gathered for the update window), and nothing new reached a chat.
    assert await planned(client, alert_id, "text") == []
    assert len(connector.sent()) == 2

    # Escalation clears the acknowledgement; reminders come back.
    await publish(client, alert_event(EventKind.ESCALATED, alert_id, Severity.CRIT, 33.0, 32.0))
    await publish(client, alert_event(EventKind.REMINDER, alert_id, Severity.CRIT, 33.0, 32.0))
    await eventually(lambda: len(connector.sent()) == 4)
    assert connector.texts(PERSONAL)[-1].startswith("Still firing:")


async def test_snooze_button_silences_the_series_in_that_conversation_only(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    alert_id = new_alert_id()
    await publish(client, alert_event(EventKind.FIRED, alert_id))
    await eventually(lambda: len(connector.sent()) == 2)

    action = load_activity("card_action", connector.url)
    action["value"]["action"].update(verb="snooze", data={"alertId": alert_id, "hours": 1})
    response = await client.post("/api/messages", json=action)
    body = await response.json()
    assert "Snoozed here by Megan Bowen until" in card_text(body["value"])
    await eventually(lambda: len(connector.updates(PERSONAL)) == 1)

    await publish(client, alert_event(EventKind.REMINDER, alert_id))
    # The channel's reminder is a reply in the card's thread.
    thread = f"{CHANNEL};messageid={connector.sent(CHANNEL)[0].answered_id}"
    await client_drained(client)
    assert len(connector.sent(thread)) == 1
    assert len(connector.sent(PERSONAL)) == 1


@pytest.mark.parametrize("value,status,code", [
    ({"action": {"type": "Action.Submit", "data": {}}}, 200, 400),
    ({"action": {"type": "Action.Execute", "verb": "explode", "data": {"alertId": "x"}}},
     200, 400),
    ({"action": {"type": "Action.Execute", "verb": "ack", "data": {"alertId": "unknown"}}},
     200, 200),
    # A snooze's hours out of range, or an integer too large for a float: a 400 answer.
    ({"action": {"type": "Action.Execute", "verb": "snooze",
                 "data": {"alertId": "x", "hours": 1000}}}, 200, 400),
    ({"action": {"type": "Action.Execute", "verb": "snooze",
                 "data": {"alertId": "x", "hours": 10 ** 400}}}, 200, 400),
    ({"action": {"type": "Action.Execute", "verb": "snooze",
                 "data": {"alertId": "x", "hours": "24"}}}, 200, 400),
    ({"action": {"type": "Action.Execute", "verb": "snooze",
                 "data": {"alertId": "x", "hours": True}}}, 200, 400),
])
async def test_bad_card_actions_get_a_proper_invoke_answer(
    client: TestClient, connector: ConnectorStandIn, value: dict, status: int, code: int
) -> None:
    action = load_activity("card_action", connector.url, value=value)
    response = await client.post("/api/messages", json=action)
    assert response.status == status
    body = await response.json()
    assert body["statusCode"] == code
    assert body["type"] in ("application/vnd.microsoft.error",
                            "application/vnd.microsoft.activity.message")


async def test_like_on_an_alert_card_acknowledges_and_unlike_takes_it_back(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    alert_id = new_alert_id()
    await publish(client, alert_event(EventKind.FIRED, alert_id))
    await eventually(lambda: len(connector.sent()) == 2)
    card_id = connector.sent(CHANNEL)[0].answered_id

    await installed.ok("reactions_added_channel", replyToId=card_id)
    await eventually(lambda: len(connector.updates()) == 2)
    assert "Acknowledged by" in card_text(card_of(connector.updates(CHANNEL)[-1]))

    await installed.ok("reactions_removed_channel", replyToId=card_id)
    await eventually(lambda: len(connector.updates()) == 4)
    assert "Acknowledged by" not in card_text(card_of(connector.updates(CHANNEL)[-1]))


# chat commands -------------------------------------------------------------------------------


async def test_commands(client: TestClient, installed: TeamsChannel,
                        connector: ConnectorStandIn) -> None:
    alert_id = new_alert_id()
    await publish(client, alert_event(EventKind.FIRED, alert_id))
    await eventually(lambda: len(connector.sent()) == 2)

    async def say(text: str) -> Any:
        before = len(connector.sent(PERSONAL))
        await installed.ok("message_personal", text=text)
        return connector.sent(PERSONAL)[before].body

    assert "Firing now" in (await say("alerts"))["text"]
    assert alert_id[:8] in (await say("alerts"))["text"]
    assert (await say(f"ack {alert_id[:8]}"))["text"].startswith(f"Acknowledged `{alert_id[:8]}`")
    assert "acknowledged by Megan Bowen" in (await say("alerts"))["text"]
    assert "There is no rule `nope`" in (await say("subscribe nope"))["text"]
    assert (await say("subscribe"))["text"] == "Subscribed this conversation to all alerts."
    assert "For how long?" in (await say("mute soon"))["text"]
    assert (await say("unmute"))["text"].startswith("Nothing was muted here")
    assert "No readings yet" in (await say("status"))["text"]
    unknown = (await say("what is this"))["text"]
    assert unknown.startswith("I didn't understand «what is this».")
    assert "**status**" in unknown  # with the short help


async def test_channel_command_works_when_mentioned(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    await installed.ok("message_channel", text="<at>HeatWatch</at> unsubscribe")
    thread = CHANNEL + ";messageid=1481567603816"
    assert connector.texts(thread) == [
        "This conversation no longer gets any alerts. **subscribe** brings them back."]


# what the connector answers ------------------------------------------------------------------


async def test_429_waits_at_least_retry_after(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    connector.faults.append(Fault(429, "TooManyRequests", retry_after="1",
                                  conversation_id=PERSONAL))
    await publish(client, alert_event(EventKind.FIRED, new_alert_id()))

    await eventually(lambda: connector.sent(PERSONAL))
    attempts = [r for r in connector.received if r.conversation_id == PERSONAL]
    assert [r.status for r in attempts] == [429, 201]
    # Honoured as the connector sees it: the retry came no sooner than Retry-After (a lower
    # bound; a busy machine only makes it later).
    assert attempts[1].arrived - attempts[0].arrived >= 1.0


@pytest.mark.parametrize("status", [412, 500, 502, 503, 504, 0])
async def test_transient_failures_are_retried(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn, status: int
) -> None:
    connector.faults.append(Fault(status, "ServiceError", conversation_id=PERSONAL))
    await publish(client, alert_event(EventKind.FIRED, new_alert_id()))

    await settled(client, {"done": 2})
    assert connector.sent(PERSONAL) and connector.sent(CHANNEL)


async def test_persistent_failure_parks_the_delivery_as_dead_and_others_go_on(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn,
    caplog: pytest.LogCaptureFixture
) -> None:
    connector.faults.append(Fault(503, "ServiceUnavailable", "Try later",
                                  conversation_id=PERSONAL, times=100))
    await publish(client, alert_event(EventKind.FIRED, new_alert_id()))

    await eventually(lambda: connector.sent(CHANNEL))
    [parked] = await eventually_async(lambda: outbox(client).list(DeliveryStatus.DEAD),
                                      what="a dead delivery")
    assert parked.conversation_id == PERSONAL
    assert "gave up after 3 attempts: HTTP 503 ServiceUnavailable: Try later" in str(
        parked.last_error)
    assert "gave up after 3 attempts" in caplog.text


@pytest.mark.parametrize("status,code,expected", [
    (403, "BotNotInConversationRoster", Status.UNINSTALLED),
    (403, "ForbiddenOperationException", Status.UNINSTALLED),
    (403, "ConversationBlockedByUser", Status.BLOCKED),
    (404, "ConversationNotFound", Status.REMOVED),
])
async def test_permanent_answers_mark_the_conversation_and_spare_the_others(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn,
    status: int, code: str, expected: Status
) -> None:
    connector.faults.append(Fault(status, code, conversation_id=PERSONAL, times=100))
    alert_id = new_alert_id()
    await publish(client, alert_event(EventKind.FIRED, alert_id))

    await eventually(lambda: connector.sent(CHANNEL))
    registry = ConversationRegistry(client.app[SERVICES].database)

    async def marked() -> Any:
        stored = await registry.get_conversation(TENANT, PERSONAL)
        return stored if stored is not None and stored.status is expected else None

    stored = await eventually_async(marked, what=f"the chat marked {expected}")
    # Exactly one attempt: these are never retried, and later alerts skip the conversation.
    assert len([r for r in connector.received if r.conversation_id == PERSONAL]) == 1
    await publish(client, alert_event(EventKind.REMINDER, alert_id))
    await eventually(lambda: len([r for r in connector.sent()  # the reminder: in the thread
                                  if r.conversation_id.startswith(CHANNEL)]) == 2)
    assert len([r for r in connector.received if r.conversation_id == PERSONAL]) == 1
    assert stored.status is expected


async def test_bot_disabled_by_admin_stops_the_tenant_and_logs_once(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn,
    caplog: pytest.LogCaptureFixture
) -> None:
    connector.faults.append(Fault(403, "BotDisabledByAdmin", times=100))
    with caplog.at_level(logging.ERROR):
        await publish(client, alert_event(EventKind.FIRED, new_alert_id()),
                      alert_event(EventKind.FIRED, new_alert_id(), series={"room": "r2"}))
        await client_drained(client)
    assert (await alert_counts(client)) == {"dead": 4}
    assert len(connector.received) <= 2  # the first answers stopped the rest of the tenant
    assert caplog.text.count("disabled the bot in tenant") == 1


async def test_per_conversation_limits_are_kept(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    events = [alert_event(EventKind.FIRED, new_alert_id(), series={"room": "r1",
                                                                   "sensor": f"s{i}"})
              for i in range(12)]
    await publish(client, *events)

    await eventually(lambda: len(connector.sent(PERSONAL)) == 12, timeout=15)
    assert connector.violations == 0
    times = [r for r in connector.received if r.conversation_id == PERSONAL]
    assert len(times) == 12  # none needed a retry


async def test_a_slow_send_is_counted_from_when_it_ended() -> None:
    """The connector may have seen a send at any moment until it ended: Teams' window of 7
    per second is kept from then, however long the request took on its way."""
    from notifier.delivery.ratelimit import DeliveryLimiter

    now = [100.0]
    limiter = DeliveryLimiter(0, clock=lambda: now[0], margin=0.0)
    async with limiter.slot("t", "c"):
        now[0] += 0.5  # the first send took half a second
    for _ in range(6):
        async with limiter.slot("t", "c"):
            pass
    assert limiter.reserve("t", "c") == 101.5  # not 101.0: one second after the first ended
    assert limiter.reserve("t", "other") == 100.5  # other conversations are not held up


async def test_dead_deliveries_are_listed_by_the_cli(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn,
    delivery_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    connector.faults.append(Fault(400, "BadArgument", "Unknown activity type",
                                  conversation_id=PERSONAL))
    await publish(client, alert_event(EventKind.FIRED, new_alert_id()))
    await settled(client, {"dead": 1, "done": 1})

    from heatwatch.deliveries import report

    for key, value in delivery_env.items():
        monkeypatch.setenv(key, value)
    text = await report(DeliveryStatus.DEAD, 10)
    assert text.startswith("Dead deliveries: 1, newest first:")
    assert "In the outbox: dead 1, done 4." in text  # and the three welcomes
    assert f"-> {PERSONAL} (attempts 1): HTTP 400 BadArgument: Unknown activity type" in text


async def test_status_shows_every_series_latest_reading_and_state(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    from notifier.alerts.events import series_key
    from notifier.monitoring.engine import Phase, SeriesState
    from storage.alert_state import AlertStateStore

    seen = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    hot = SeriesState(rule="server-room-temperature", key=series_key(SERIES), tags=SERIES,
                      phase=Phase.FIRING, severity=Severity.CRIT, last_value=33.5,
                      last_seen=seen)
    cool_tags = {"room": "r2", "sensor": "s7"}
    cool = SeriesState(rule="server-room-temperature", key=series_key(cool_tags),
                       tags=cool_tags, last_value=21.0, last_seen=seen)
    await AlertStateStore(client.app[SERVICES].database).save(
        (s.rule, s.key, s.dumps()) for s in (hot, cool))

    await installed.ok("message_personal", text="status")
    await installed.ok("message_personal", text="status r1")

    overview, room = (card_of(answer) for answer in connector.sent(PERSONAL))
    assert overview["version"] == "1.5"
    text = card_text(overview)
    assert "2 sensors in 2 rooms: 1 firing, 0 without data, 0 open alerts" in text
    assert "r1=1 sensor · 1 critical · server-room-temperature up to 33.5 °C (s1)" in text
    assert "r2=1 sensor · server-room-temperature up to 21 °C (s7)" in text
    assert text.index("r1=") < text.index("r2=")  # rooms in trouble first
    text = card_text(room)
    assert "Sensors of r1" in text
    assert ("1 sensor, latest reading "
            "{{DATE(2026-11-21T10:00:00Z, SHORT)}} {{TIME(2026-11-21T10:00:00Z)}}" in text)
    assert "Sensor / server-room-temperature | s1 / 33.5 °C critical" in text
    assert "r2" not in text


async def test_status_lists_probe_faults_and_leaves_them_out_of_the_hottest(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    from notifier.alerts.events import series_key
    from notifier.monitoring.engine import SeriesState
    from storage.alert_state import AlertStateStore

    seen = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    states = []
    for sensor, value, fault in (("s1", 24.5, ""),
                                 ("s2", 85.0, "implausible: reads 85 °C, outside -20..80 °C")):
        tags = {"room": "r1", "sensor": sensor}
        states.append(SeriesState(rule="server-room-temperature", key=series_key(tags),
                                  tags=tags, last_value=value, last_seen=seen, fault=fault))
    await AlertStateStore(client.app[SERVICES].database).save(
        (s.rule, s.key, s.dumps()) for s in states)

    await installed.ok("message_personal", text="status")
    await installed.ok("message_personal", text="status r1")
    overview, room = (card_text(card_of(answer)) for answer in connector.sent(PERSONAL))
    assert ("r1=2 sensors · 1 probe fault · server-room-temperature up to 24.5 °C (s1)"
            in overview)  # the faulty s2 (85 °C) is not the room's reading
    assert "s2 / 85 °C probe fault (implausible: reads 85 °C, outside -20..80 °C)" in room


async def test_status_of_ten_thousand_sensors_fits_in_one_teams_message(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    from notifier.alerts.events import series_key
    from notifier.monitoring.engine import SeriesState
    from storage.alert_state import AlertStateStore

    seen = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    states = []
    for n in range(10_000):
        tags = {"room": f"room-{n % 100:03}", "sensor": f"rack-{n:05}-inlet"}
        states.append(SeriesState(rule="server-room-temperature", key=series_key(tags),
                                  tags=tags, last_value=20.0 + n % 7, last_seen=seen))
    await AlertStateStore(client.app[SERVICES].database).save((s.rule, s.key, s.dumps()) for s in states)

    await installed.ok("message_personal", text="status")
    await installed.ok("message_personal", text="status room-042")

    overview, room = connector.sent(PERSONAL)
    for answer in (overview, room):
        assert len(json.dumps(answer.body).encode()) < 28_000  # Teams' message size limit
    assert "10000 sensors in 100 rooms" in card_text(card_of(overview))
    assert "in 100 rooms: 0 firing, 0 without data, 0 open alerts" in card_text(card_of(overview))
    assert "and 75 more rooms, all quieter" in card_text(card_of(overview))
    assert "and 60 more sensors, all cooler" in card_text(card_of(room))


async def test_data_source_down_and_back_reach_people_as_one_card(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    alert_id = new_alert_id()
    down = AlertEvent(kind=EventKind.SOURCE_DOWN, rule="", alert_id=alert_id,
                      at=datetime.now(UTC), since=datetime(2026, 11, 21, 10, 0, tzinfo=UTC),
                      detail="InfluxDB http://127.0.0.1:8086 database 'heatwatch' (InfluxQL): "
                             "cannot reach it")
    await publish(client, down)
    await eventually(lambda: len(connector.cards()) == 2)
    card = card_of(connector.cards(PERSONAL)[0])
    assert "Temperature data source is down" in card_text(card)
    assert "cannot reach it" in card_text(card)
    assert [a["verb"] for a in card["actions"]] == ["ack"]  # no series to snooze

    up = AlertEvent(kind=EventKind.SOURCE_UP, rule="", alert_id=alert_id, at=datetime.now(UTC))
    await publish(client, up)
    await eventually(lambda: len(connector.updates()) == 2)
    assert "Temperature data source is back" in card_text(card_of(connector.updates(PERSONAL)[0]))
    await eventually(lambda: "The temperature data source is back." in connector.texts(PERSONAL))
