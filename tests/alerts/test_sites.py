# ruff: noqa: F811 (the paging fixtures of test_activity_feed are imported)
"""Site events through the real app (issue #27): a real InfluxDB, the poller, the outbox and the
Bot Connector stand-in. Rooms of one site in trouble at once are one site card per chat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from common.clock import utcnow
from common.settings import load_settings
from heatwatch.server import SERVICES, create_app
from notifier.alerts.events import AlertEvent, EventKind, Severity
from notifier.alerts.record import AlertRecord
from notifier.chat.actions import Actor
from notifier.delivery.feed import chain_id
from storage.audit import AuditLog
from tests.oncall.test_activity_feed import ADELE, graph, paging  # noqa: F401 (fixtures)
from tests.servers.influx import InfluxServer, point
from tests.standins.connector import ConnectorStandIn
from tests.standins.graph import GraphStandIn
from tests.support.cluster import register_people
from tests.support.delivery import RULES, card_of
from tests.support.rooms import Room, room_fixture
from tests.support.teams import card_text
from tests.support.waiting import eventually, outbox_drained

SITE_RULES = RULES.replace('group_by = ["room", "sensor"]',
                           'group_by = ["site", "room", "sensor"]\n'
                           'incident_by = ["site", "room"]\nsite_by = ["site"]')
ROOMS = ["dc1-a", "dc1-b", "dc1-c"]


site = room_fixture(4, 30.0)


def write(site: Room, seconds: float, rooms: dict[str, float], sensors: int = 10,
          name: str = "ams1") -> None:
    at_ms = int(site.at(seconds).timestamp() * 1000)
    site.influx.write(site.database, [
        point(room, f"rack-{n:03}", value + n / 10, at_ms, site=name)
        for room, value in rooms.items() for n in range(sensors)])


async def tenant_of(client: TestClient, chat: str) -> str:
    row = await client.app[SERVICES].database.fetch_one(
        "SELECT tenant_id FROM conversations WHERE conversation_id = ?", (chat,))
    return str(row["tenant_id"])


async def site_event_of(client: TestClient) -> AlertRecord:
    """The one site event among the recent incidents."""
    [site_event] = [a for a in await client.app[SERVICES].actions.alerts.recent_incidents(10)
                    if a.incident.site_event]
    return site_event


async def test_a_site_wide_event_is_one_site_card_per_chat_naming_every_room(
        site: Room) -> None:
    write(site, 0, {"dc1-a": 33.0, "dc1-b": 28.0, "dc1-c": 28.5})
    await site.poll(1, SITE_RULES)
    await eventually(lambda: all(len(site.operations(c)) == 1 for c in site.chats))
    await outbox_drained(site.client.app)
    for chat in site.chats:
        [post] = site.operations(chat)
        text = card_text(card_of(post))
        assert "CRITICAL: 3 rooms in trouble at site ams1" in text
        assert "1 | Rooms critical" in text and "2 | Rooms warning" in text
        for room in ROOMS:
            assert f"{room}=" in text
        assert "dc1-a=CRITICAL · 10 critical · hottest rack-009 33.9 °C" in text
        assert text.index("dc1-a=") < text.index("dc1-c=") < text.index("dc1-b=")
        assert {a["verb"] for a in card_of(post)["actions"]} == {"ack", "snooze"}

    # A room cools: the site card is updated in place, and no "Resolved" text for the room.
    write(site, 15, {"dc1-a": 33.0, "dc1-b": 22.0, "dc1-c": 28.5})
    await site.poll(16, SITE_RULES)
    await eventually(lambda: all(len(site.operations(c)) == 2 for c in site.chats), 40.0)
    for chat in site.chats:
        post, update = site.operations(chat)
        assert update.method == "PUT" and update.activity_id == post.answered_id
        text = card_text(card_of(update))
        assert "2 rooms in trouble" in text and "dc1-b=back to normal" in text

    # The last rooms cool: the site card says so and one short text tells each chat.
    write(site, 30, {"dc1-a": 22.0, "dc1-b": 22.0, "dc1-c": 22.0})
    await site.poll(31, SITE_RULES)
    await eventually(lambda: all(len(site.operations(c)) == 4 for c in site.chats))
    await outbox_drained(site.client.app)
    for chat in site.chats:
        post, _, *rest = site.operations(chat)
        [end] = [r for r in rest if r.method == "PUT"]
        assert "Resolved: 3 rooms at site ams1 back to normal" in card_text(card_of(end))
        [note] = [r for r in rest if r.method == "POST"]
        assert note.body["text"] == ("Resolved: **server-room-temperature** at site ams1: all "
                                     "3 rooms back to normal.")
    assert len(site.connector.received) == 4 * len(site.chats)


async def test_a_room_alone_is_a_room_card_and_joins_the_site_card_when_a_second_opens(
        site: Room) -> None:
    write(site, 0, {"dc1-a": 28.0})
    await site.poll(1, SITE_RULES)
    await eventually(lambda: all(len(site.operations(c)) == 1 for c in site.chats))
    assert "Warning: server-room-temperature" in card_text(card_of(site.operations(
        site.chats[0])[0]))
    # Another site's room is not this site's event.
    write(site, 15, {"dc1-a": 28.0}, name="fra2")
    write(site, 15, {"dc1-a": 28.0})
    await site.poll(16, SITE_RULES)
    await eventually(lambda: all(len(site.operations(c)) == 2 for c in site.chats))

    write(site, 30, {"dc1-a": 28.0, "dc1-b": 29.0})
    write(site, 30, {"dc1-a": 28.0}, name="fra2")
    await site.poll(31, SITE_RULES)
    # The room card is updated once to say so, and the site card names both rooms: three
    # messages a chat for this site in all (the other site's room has its own card).
    await eventually(lambda: all(len(site.operations(c)) == 4 for c in site.chats))
    await outbox_drained(site.client.app)
    for chat in site.chats:
        room_post, other, *rest = site.operations(chat)
        [note] = [r for r in rest if r.method == "PUT"]
        assert note.activity_id == room_post.answered_id
        assert "Part of a site event at site ams1" in card_text(card_of(note))
        [site_post] = [r for r in rest if r.method == "POST"]
        text = card_text(card_of(site_post))
        assert "Warning: 2 rooms in trouble at site ams1" in text
        assert "dc1-a=" in text and "dc1-b=" in text and "fra2" not in text
        assert "site fra2" in card_text(card_of(other)) or "Site=fra2" in card_text(
            card_of(other))

    # Room dc1-a turns critical: the site card (not the room card) shows it at once.
    write(site, 45, {"dc1-a": 33.0, "dc1-b": 29.0})
    write(site, 45, {"dc1-a": 28.0}, name="fra2")
    await site.poll(46, SITE_RULES)
    await eventually(lambda: all(len(site.operations(c)) == 5 for c in site.chats))
    for chat in site.chats:
        last = site.operations(chat)[-1]
        assert last.method == "PUT"
        assert "CRITICAL: 2 rooms in trouble at site ams1" in card_text(card_of(last))


async def test_acknowledge_on_the_site_card_acknowledges_each_of_its_rooms(site: Room) -> None:
    write(site, 0, {"dc1-a": 33.0, "dc1-b": 28.0})
    await site.poll(1, SITE_RULES)
    await eventually(lambda: all(len(site.operations(c)) == 1 for c in site.chats))
    actions = site.client.app[SERVICES].actions
    site_event = await site_event_of(site.client)
    actor = Actor(await tenant_of(site.client, site.chats[0]), site.chats[0], "Dana")
    outcome = await actions.acknowledge(site_event.alert_id, actor)
    assert outcome.changed and "2 of its 2 rooms" in outcome.text
    again = await actions.acknowledge(site_event.alert_id, actor)  # a second press
    assert not again.changed and "Nothing changed" in again.text
    commands = site.client.app[SERVICES].commands
    timeline = (await commands.run(f"history {site_event.alert_id[:8]}", actor)).text
    assert "site event began" in timeline and "acknowledged" in timeline
    listed = (await commands.run("history", actor)).text
    assert "server-room-temperature, site ams1" in listed  # beside its rooms
    assert "open: 2" in str((await commands.run("alerts", actor)).data).replace("'", "")
    rooms = [a for a in await actions.alerts.open_alerts() if not a.incident.site_event]
    assert len(rooms) == 2 and all(a.acknowledged_by == "Dana" for a in rooms)
    audit = AuditLog(site.client.app[SERVICES].database)
    for alert in [*rooms, site_event]:
        assert [e.action for e in await audit.of_alert(alert.alert_id)].count(
            "acknowledged") == 1
    # Every chat's site card says so; no room card was posted anywhere.
    await eventually(lambda: all(len(site.operations(c)) == 2 for c in site.chats))
    await outbox_drained(site.client.app)
    for chat in site.chats:
        post, update = site.operations(chat)
        assert update.method == "PUT"
        assert "Acknowledged by Dana" in card_text(card_of(update))
        assert "Undo acknowledge" in str(card_of(update)["actions"])

    # A room that opens later is new trouble: the site card offers Acknowledge again, at once.
    write(site, 15, {"dc1-a": 33.0, "dc1-b": 28.0, "dc1-c": 28.0})
    await site.poll(16, SITE_RULES)
    await eventually(lambda: all(len(site.operations(c)) == 3 for c in site.chats))
    for chat in site.chats:
        card = card_of(site.operations(chat)[-1])
        assert "3 rooms in trouble" in card_text(card) and "Acknowledged by" not in str(card)
        assert "ack" in {a["verb"] for a in card["actions"]}
    acked = {a.incident.series["room"]: a.acknowledged_by
             for a in await actions.alerts.open_alerts() if not a.incident.site_event}
    assert acked == {"dc1-a": "Dana", "dc1-b": "Dana", "dc1-c": None}


async def test_rooms_on_a_site_card_still_escalate_and_an_acknowledgement_stops_it(
        aiohttp_client: Any, influxdb: InfluxServer, connector: ConnectorStandIn,
        database_url: str, tmp_path: Path) -> None:
    # Dana and Lee are told; Kim is the escalation target, told of nothing before.
    rules = SITE_RULES.replace('repeat = "0"', 'repeat = "0"\nescalate_after = "10m"\n'
                               'targets = ["user:aad-0", "user:aad-1"]\n'
                               'escalate_to = ["user:aad-2"]')
    (tmp_path / "rules.toml").write_text(rules)
    name = "sites_escalation"
    influxdb.create_database(name)
    app = create_app(load_settings(environ={
        "DATABASE_URL": database_url, "MONITORING_ENABLED": "false",
        "RULES_FILE": str(tmp_path / "rules.toml")}, env_file=None))
    client = await aiohttp_client(app)
    chats = await register_people(client.app[SERVICES].database, connector.url, 3)
    site = Room(client, influxdb, name, connector, chats,
                datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2))
    try:
        write(site, 0, {"dc1-a": 33.0, "dc1-b": 33.5, "dc1-c": 28.0})
        await site.poll(1, rules)
        told, kim = site.chats[:2], site.chats[2]
        await eventually(lambda: all(len(site.operations(c)) == 1 for c in told))
        await outbox_drained(site.client.app)
        assert site.operations(kim) == []
        # Nobody acknowledged: both critical rooms escalate, as one step of the site event:
        # one note per chat naming them (not one per room), the site card updated in place;
        # Kim gets the site card with the two rooms, not a card per room, and the note.
        assert await app[SERVICES].escalator.check(utcnow() + timedelta(minutes=11)) == 2
        await eventually(lambda: all(len(site.operations(c)) == 3 for c in told)
                         and len(site.operations(kim)) == 2)
        first, note = site.operations(kim)
        text = card_text(card_of(first))
        assert text.startswith("CRITICAL: 2 rooms in trouble at site ams1"), text
        assert "dc1-a" in text and "dc1-b" in text and "dc1-c" not in text, text
        assert note.body["text"].startswith("Escalated: nobody acknowledged")
        for chat in told:
            card, *rest = site.operations(chat)
            assert [r.method for r in rest] == ["PUT", "POST"]  # card first, then the note
            assert rest[0].activity_id == card.answered_id
            assert rest[1].body["text"].startswith(
                "Escalated: nobody acknowledged **server-room-temperature** at site ams1, "
                "2 rooms critical (dc1-a, dc1-b), for 11 min; told: "), rest[1].body["text"]
        rows = await client.app[SERVICES].database.fetch_all(
            "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'escalated'")
        assert rows[0]["n"] == 2  # each room's step, once per critical episode
        assert await app[SERVICES].escalator.check(utcnow() + timedelta(minutes=12)) == 0
        # The site card's Acknowledge stops it for its rooms: a later step finds them acked.
        site_event = await site_event_of(site.client)
        outcome = await app[SERVICES].actions.acknowledge(
            site_event.alert_id, Actor(await tenant_of(site.client, chats[0]), chats[0], "Dana"))
        assert "3 of its 3 rooms" in outcome.text
        assert await app[SERVICES].escalator.check(utcnow() + timedelta(hours=1)) == 0
    finally:
        await site.close()


async def test_a_chat_sees_on_the_site_card_only_the_rooms_it_was_told_of(site: Room) -> None:
    # One chat snoozes dc1-c's card for a day; dc1-c cools, and its snooze holds for the room's
    # next incident there.
    write(site, 0, {"dc1-c": 28.0})
    await site.poll(1, SITE_RULES)
    await eventually(lambda: all(len(site.operations(c)) == 1 for c in site.chats))
    actions = site.client.app[SERVICES].actions
    [room_c] = await actions.alerts.open_alerts()
    quiet = Actor(await tenant_of(site.client, site.chats[0]), site.chats[0], "Dana")
    assert (await actions.snooze(room_c.alert_id, 86400, quiet)).changed
    write(site, 15, {"dc1-c": 22.0})
    await site.poll(16, SITE_RULES)
    await outbox_drained(site.client.app)
    before = {chat: len(site.operations(chat)) for chat in site.chats}

    write(site, 30, {"dc1-a": 29.0, "dc1-b": 28.0, "dc1-c": 28.5})
    await site.poll(31, SITE_RULES)
    await eventually(lambda: all(len(site.operations(c)) == before[c] + 1
                                 for c in site.chats))
    await outbox_drained(site.client.app)
    for chat in site.chats:
        text = card_text(card_of(site.operations(chat)[-1]))
        if chat == quiet.conversation_id:
            assert "2 rooms in trouble at site ams1" in text and "dc1-c" not in text
        else:
            assert "3 rooms in trouble at site ams1" in text and "dc1-c=" in text


async def test_snooze_on_the_site_card_snoozes_its_rooms_in_that_chat_only(site: Room) -> None:
    write(site, 0, {"dc1-a": 28.0, "dc1-b": 28.0})
    await site.poll(1, SITE_RULES)
    await eventually(lambda: all(len(site.operations(c)) == 1 for c in site.chats))
    actions = site.client.app[SERVICES].actions
    site_event = await site_event_of(site.client)
    actor = Actor(await tenant_of(site.client, site.chats[0]), site.chats[0], "Dana")
    outcome = await actions.snooze(site_event.alert_id, 3600, actor)
    assert outcome.changed and "Snoozed here the site event" in outcome.text
    assert "2 of its 2 rooms" in outcome.text
    rows = await site.client.app[SERVICES].database.fetch_all(
        "SELECT conversation_id, series_key FROM snoozes")
    assert len(rows) == 3 and {r["conversation_id"] for r in rows} == {site.chats[0]}
    await eventually(lambda: len(site.operations(site.chats[0])) == 2)
    await outbox_drained(site.client.app)
    update = site.operations(site.chats[0])[-1]
    assert update.method == "PUT" and "Snoozed here by Dana" in card_text(card_of(update))
    assert "unsnooze" in {a["verb"] for a in card_of(update)["actions"]}
    assert all(len(site.operations(c)) == 1 for c in site.chats[1:])  # no room card anywhere

    # A room turning critical breaks through the snooze there, on the site card, with a text.
    write(site, 15, {"dc1-a": 33.0, "dc1-b": 28.0})
    await site.poll(16, SITE_RULES)
    await eventually(lambda: len(site.operations(site.chats[0])) == 4)
    texts = [r.body.get("text", "") for r in site.operations(site.chats[0])[2:]]
    assert any(t.startswith("Now CRITICAL: **server-room-temperature** (room dc1-a")
               for t in texts), texts


def room_event(room: str, kind: EventKind = EventKind.FIRED) -> AlertEvent:
    resolved = kind is EventKind.RESOLVED
    group = {"site": "ams1", "room": room}
    return AlertEvent(kind=kind, rule="server-room-temperature", alert_id=f"{room}-{NOW}",
                      at=datetime.now(UTC), series={**group, "sensor": "s1"}, group=group,
                      site={"site": "ams1"}, severity=None if resolved else Severity.CRIT,
                      value=26.0 if resolved else 34.0, threshold=None if resolved else 32.0,
                      unit="°C", since=datetime.now(UTC))


NOW = datetime.now(UTC).timestamp()


async def test_rooms_paging_at_the_same_moment_are_one_page_about_the_site(
        paging: TestClient, graph: GraphStandIn, connector: ConnectorStandIn) -> None:
    await paging.app[SERVICES].sink.publish([room_event(r) for r in ROOMS])
    await eventually(lambda: graph.notifications, timeout=20)
    [site_row] = await paging.app[SERVICES].database.fetch_all(
        "SELECT alert_id FROM alerts WHERE source = 'site'")
    [(user, body)] = graph.notifications
    assert user == ADELE and body["chainId"] == chain_id(site_row["alert_id"])
    assert body["templateParameters"] == [
        {"name": "alert", "value": "server-room-temperature critical: 3 rooms at site ams1"}]
    [card] = connector.cards(graph.chat_id(ADELE))  # and one site card, not three room cards
    assert "CRITICAL: 3 rooms in trouble at site ams1" in card_text(card_of(card))

    await paging.app[SERVICES].sink.publish([room_event(r, EventKind.RESOLVED) for r in ROOMS])
    await eventually(lambda: len(graph.notifications) == 2)
    ended = graph.notifications[1][1]
    assert ended["chainId"] == chain_id(site_row["alert_id"])
    assert ended["templateParameters"][0]["value"] == (
        "server-room-temperature resolved: 3 rooms at site ams1")
