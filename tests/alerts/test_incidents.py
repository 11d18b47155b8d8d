"""Incidents through the real app: a real InfluxDB, the poller's state machine, the outbox and
the Bot Connector stand-in. The sensors of one room in trouble together are one card per chat,
updated in place as sensors join, escalate and recover."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from common.settings import load_settings
from heatwatch.server import SERVICES, create_app
from notifier.alerts.events import AlertEvent, EventKind, Severity
from notifier.alerts.incidents import Change, Incident, Member
from notifier.alerts.record import Counts, IncidentSnapshot
from notifier.chat.actions import Actor
from notifier.chat.history import history_list
from notifier.monitoring.engine import SeriesState
from storage.alert_state import AlertStateStore
from storage.outbox import Outbox
from tests.servers.influx import InfluxServer
from tests.standins.connector import ConnectorStandIn
from tests.support.delivery import RULES, card_of
from tests.support.rooms import ROOM, Room, audit_actions, make_room, room_fixture
from tests.support.teams import card_text
from tests.support.waiting import eventually, outbox_drained

room = room_fixture(20, 30.0)
pair = room_fixture(2, 0.2)  # two people, card updates sent at once


def sensors(count: int, value: float, start: int = 0) -> dict[str, float]:
    return {f"rack-{n:03}": value for n in range(start, start + count)}


async def test_a_room_overheating_at_once_is_one_card_per_chat_updated_to_resolved(
    room: Room
) -> None:
    hot = sensors(200, 28.0)
    hot["rack-007"] = 35.5  # the hottest one
    room.write(0, hot)
    events = await room.poll(1)
    assert len(events) == 200  # every sensor fired...

    # ...and every chat got exactly one card for the room.
    await eventually(lambda: all(len(room.operations(c)) == 1 for c in room.chats))
    card = card_of(room.operations(room.chats[0])[0])
    text = card_text(card)
    assert "CRITICAL: server-room-temperature" in text
    assert "Server room air temperature" in text
    assert f"Room={ROOM}" in text
    assert "1 | Critical" in text and "199 | Warning" in text
    # The hottest first, with when its value was read (in each reader's time zone).
    assert re.search(r"rack-007=35\.5 °C at \{\{TIME\([0-9TZ:-]+\)\}\} · critical "
                     r"\(≥ 32 °C\)", text), text
    assert "Peak=35.5 °C (rack-007)" in text
    assert card["body"][0]["style"] == "attention"
    assert {"type": "Action.OpenUrl", "title": "Runbook (wiki.example.com)",
            "url": f"https://wiki.example.com/runbooks/cooling?room={ROOM}"} in card["actions"]

    room.write(120, sensors(200, 22.0))
    await room.poll(121)
    # Resolved: the same card updated in place, and one short text. Three operations a chat.
    await eventually(lambda: all(len(room.operations(c)) == 3 for c in room.chats))
    for chat in room.chats:
        post, *rest = room.operations(chat)
        update = next(r for r in rest if r.method == "PUT")
        assert update.activity_id == post.answered_id
        resolved = card_text(card_of(update))
        assert "Resolved: server-room-temperature" in resolved and "200 | Back to ok" in resolved
        [text_message] = [r for r in rest if r.method == "POST"]
        assert text_message.body["text"].startswith(
            f"Resolved: **server-room-temperature** (room {ROOM}")
    assert len(room.connector.received) == 3 * len(room.chats)


async def test_changes_are_gathered_into_one_update_and_an_escalation_goes_out_at_once(
    room: Room
) -> None:
    room.write(0, sensors(2, 28.0))
    await room.poll(1)
    await eventually(lambda: all(len(room.operations(c)) == 1 for c in room.chats))

    # Three more sensors join at the same severity: gathered (the window is 30 s here)...
    room.write(15, sensors(5, 28.5))
    await room.poll(16)
    # Committed: one card update per chat, waiting for the end of the window (the poll has
    # published, so its rows are in the outbox); nothing more went out.
    waiting = await room.client.app[SERVICES].database.fetch_all(
        "SELECT conversation_id, next_attempt_at FROM deliveries WHERE status = 'pending' "
        "AND operation = 'card'")
    assert sorted(row["conversation_id"] for row in waiting) == sorted(room.chats)
    assert all(datetime.fromisoformat(row["next_attempt_at"]) > datetime.now(UTC)
               for row in waiting)
    assert all(len(room.operations(c)) == 1 for c in room.chats)

    # ...until one turns critical: then one update per chat shows all of it at once.
    room.write(30, {"rack-004": 33.0})
    await room.poll(31)
    await eventually(lambda: all(len(room.operations(c)) == 2 for c in room.chats))
    await outbox_drained(room.client.app)  # the gathered updates were the ones sent at once
    for chat in room.chats:
        post, update = room.operations(chat)
        assert update.method == "PUT" and update.activity_id == post.answered_id
        text = card_text(card_of(update))
        assert "1 | Critical" in text and "4 | Warning" in text
        assert text.index("rack-004") < text.index("rack-000")


async def test_rooms_are_separate_incidents_and_per_sensor_rules_keep_one_card_per_sensor(
    room: Room
) -> None:
    room.write(0, sensors(3, 29.0))
    room.write(0, sensors(2, 29.0), room="dc1-b")
    await room.poll(1)
    await eventually(lambda: all(len(room.operations(c)) == 2 for c in room.chats))
    rooms = sorted(card_text(card_of(op)).split("Room=")[1].split(" |")[0]
                   for op in room.operations(room.chats[0]))
    assert rooms == [ROOM, "dc1-b"]

    per_sensor = RULES.replace('name = "server-room-temperature"',
                               'name = "per-sensor"\nincident_by = ["room", "sensor"]')
    room.monitor = None  # both rules now (a rule left out would be resolved as removed)
    await room.poll(2, rules=RULES + per_sensor)
    await eventually(lambda: all(len(room.operations(c)) == 7 for c in room.chats))


async def test_the_peak_is_the_hottest_reading_while_open_on_the_card_and_in_history(
    room: Room
) -> None:
    # The resolved card and history said 32.4 °C for an incident whose status had said
    # hottest 33.85 °C: that reading came between two events.
    room.write(0, {"rack-000": 28.0, "rack-001": 32.4})
    await room.poll(1)
    await eventually(lambda: all(len(room.operations(c)) == 1 for c in room.chats))
    room.write(15, {"rack-000": 28.0, "rack-001": 33.2})
    await room.poll(16)
    room.write(30, {"rack-000": 28.0, "rack-001": 33.85})
    await room.poll(31)
    room.write(45, {"rack-000": 28.0, "rack-001": 33.1})
    await room.poll(46)
    room.write(60, {"rack-000": 22.0, "rack-001": 22.0})
    await room.poll(61)
    await eventually(lambda: all(len(room.operations(c)) == 3 for c in room.chats))
    update = next(r for r in room.operations(room.chats[0]) if r.method == "PUT")
    assert "Peak=33.85 °C (rack-001)" in card_text(card_of(update))
    [record] = await room.client.app[SERVICES].actions.alerts.recent_incidents(5)
    assert record.incident.peak == 33.85
    assert "peak 33.85 °C" in history_list([record], {}, {}, datetime.now(UTC),
                                           Actor(tenant_id="t", conversation_id="c", name="Dana"))


async def test_the_card_follows_newer_readings_once_a_minute_in_place_and_pages_nobody(
        pair: Room) -> None:
    room = pair
    # A card that changed only with events said 32.13 °C while `status` said 34.13 a minute
    # later. A firing series' newer reading now updates it (`update_every`, a minute: slots
    # that start on whole minutes, as the test's times do from here).
    room.t0 = room.t0.replace(second=0)
    room.write(0, {"rack-000": 28.0, "rack-001": 29.0})
    await room.poll(1)
    await eventually(lambda: all(len(room.operations(c)) == 1 for c in room.chats))
    room.write(30, {"rack-000": 28.0, "rack-001": 29.6})
    assert await room.poll(31) == []  # 30 s after the card: not yet
    room.write(61, {"rack-000": 28.05, "rack-001": 30.75})
    events = await room.poll(62)
    # rack-000 moved under a tenth of a degree: only rack-001's newer value goes.
    assert [(e.kind, e.series["sensor"]) for e in events] == [
        (EventKind.READING, "rack-001")]
    await eventually(lambda: all(len(room.operations(c)) == 2 for c in room.chats))
    for chat in room.chats:
        post, update = room.operations(chat)
        assert update.method == "PUT" and update.activity_id == post.answered_id
        text = card_text(card_of(update))
        assert text.startswith("Warning: server-room-temperature"), text
        assert re.search(r"rack-001=30\.75 °C at \{\{TIME\([0-9TZ:-]+\)\}\} · warning",
                         text), text
        assert "Peak=30.75 °C (rack-001)" in text
    # What `status` reads (the poller's stored state) and `history` agree with the card.
    states = await AlertStateStore(room.client.app[SERVICES].database).load()
    [hottest] = [SeriesState.loads(rule, key, text) for (rule, key), text in states.items()
                 if "rack-001" in key]
    assert hottest.last_value == 30.75
    [record] = await room.client.app[SERVICES].actions.alerts.recent_incidents(5)
    assert "peak 30.75 °C" in history_list(
        [record], {}, {}, datetime.now(UTC),
        Actor(tenant_id="t", conversation_id="c", name="Dana"))
    # Nobody was paged or reminded by it: one audit entry, the incident's `fired`.
    assert await audit_actions(room, record.alert_id) == ["fired"]


async def test_a_sensor_silent_for_forget_after_ends_its_incident_and_is_no_longer_watched(
        pair: Room) -> None:
    room = pair
    # A sensor taken out kept its no-data incident open for ever. After `forget_after` (a
    # week by default) the incident ends, saying why, and the poller lets the series go.
    room.write(0, {"rack-000": 28.0})
    await room.poll(1)
    await eventually(lambda: all(len(room.operations(c)) == 1 for c in room.chats))
    assert [e.kind for e in await room.poll(400)] == [EventKind.NO_DATA]
    week = 7 * 86400
    assert [e.kind for e in await room.poll(week - 10)] == []
    assert [e.kind for e in await room.poll(week + 10)] == [EventKind.FORGOTTEN]
    # The card, updated in place, and one text in each chat.
    await eventually(lambda: all(any(
        r.method == "POST" and "No longer watched" in r.body.get("text", "")
        for r in room.operations(c)) for c in room.chats))
    for chat in room.chats:
        post, *rest = room.operations(chat)
        assert post.method == "POST" and not any(r.method == "POST" and r.body.get(
            "attachments") for r in rest)  # no second card
        last = [r for r in rest if r.method == "PUT"][-1]
        text = card_text(card_of(last))
        assert text.startswith("No longer watched: server-room-temperature"), text
        assert "no data for 7 d; not watched until data comes again" in text
        [note] = [r.body["text"] for r in rest if r.method == "POST"]
        assert note == (f"No longer watched: **server-room-temperature** (room {ROOM}): "
                        "rack-000: no data for 7 d; not watched until data comes again.")
    [record] = await room.client.app[SERVICES].actions.alerts.recent_incidents(5)
    assert not record.open and record.incident.kind is EventKind.FORGOTTEN
    assert await audit_actions(room, record.alert_id) == ["fired", "forgotten"]

    # InfluxDB still returns its last point (inside the query's window, as when the poller's
    # clock runs ahead of InfluxDB's): it brings nothing back, no new no-data incident.
    store = AlertStateStore(room.client.app[SERVICES].database)
    assert await room.poll(week + 40) == []
    [stored] = [SeriesState.loads(rule, key, text)
                for (rule, key), text in (await store.load()).items() if "rack-000" in key]
    assert stored.forgotten and stored.alert_id is None
    # Once that point has left every window (lookback past forget_after), the state goes.
    assert await room.poll(week + 1 + 600) == []
    assert not [key for _, key in await store.load() if "rack-000" in key]
    assert len(await room.client.app[SERVICES].actions.alerts.recent_incidents(5)) == 1


async def test_a_probe_fault_shows_on_the_open_rooms_card_and_pages_nobody(
        pair: Room) -> None:
    room = pair
    room.write(0, {"rack-000": 28.0, "rack-001": 24.0, "rack-002": 24.1})
    await room.poll(1)
    await eventually(lambda: all(len(room.operations(c)) == 1 for c in room.chats))
    room.write(15, {"rack-000": 28.1, "rack-001": 85.0, "rack-002": 24.1})
    await room.poll(16)
    await eventually(lambda: all(len(room.operations(c)) == 2 for c in room.chats))
    for chat in room.chats:
        update = room.operations(chat)[1]
        assert update.method == "PUT"  # the card updated, no new post: nobody paged
        text = card_text(card_of(update))
        assert ("Probe faults (not paged): rack-001: reads 85 °C, outside -20..80 °C"
                in text)
        # Still the one warning sensor's card: the faulty probe is no member of it.
        assert text.startswith("Warning: server-room-temperature") and "Sensor=rack-000" in text
        assert "CRITICAL" not in text
    # A probe fault in a room with nothing open tells nobody: the poll has committed what
    # it published (the outbox rows with the incidents), and there is no incident there.
    room.write(30, {"rack-000": 24.0, "rack-001": 24.0, "rack-002": 24.1}, room="dc1-b")
    await room.poll(31)
    room.write(45, {"rack-000": 99.0, "rack-001": 24.0, "rack-002": 24.1}, room="dc1-b")
    await room.poll(46)
    assert room.monitor is not None and [f.group for f in room.monitor.probe_faults()] == [
        {"room": ROOM}, {"room": "dc1-b"}]
    incidents = await room.client.app[SERVICES].actions.alerts.recent_incidents(10)
    assert [i.incident.series for i in incidents] == [{"room": ROOM}]


async def test_probe_faults_are_told_to_probe_faults_to_only_one_text_per_room(
    aiohttp_client: Any, influxdb: InfluxServer, connector: ConnectorStandIn, database_url: str,
    tmp_path: Path
) -> None:
    rules = RULES + 'probe_faults_to = ["user:aad-1"]\n'
    (tmp_path / "rules.toml").write_text(rules, encoding="utf-8")
    room = await make_room(aiohttp_client, influxdb, connector, database_url, 3, 0.2,
                           RULES_FILE=str(tmp_path / "rules.toml"))
    room.t0 -= timedelta(minutes=5)  # every reading below is in the past (and in the lookback)
    good = {"rack-000": 24.0, "rack-001": 24.1, "rack-002": 24.2}
    told, others = room.chats[1], [room.chats[0], room.chats[2]]
    outbox = Outbox(room.client.app[SERVICES].database)

    async def rows(chat: str) -> int:
        return len([d for d in await outbox.list(limit=1000) if d.conversation_id == chat])

    try:
        room.write(0, good)
        await room.poll(1, rules)
        # Two probes of the room fail in one poll: one text, to aad-1's chat alone.
        room.write(15, {**good, "rack-001": 85.0, "rack-002": -40.0})
        await room.poll(16, rules)
        [notice] = await eventually(lambda: room.operations(told))
        text = notice.body["text"]
        assert text.startswith("**Probe faults** of **server-room-temperature** (room dc1-a); "
                               "not paged, not an incident:")
        assert "- sensor rack-001: reads 85 °C, outside -20..80 °C, since " in text
        assert "- sensor rack-002: reads -40 °C, outside -20..80 °C, since " in text
        # Still at fault at the next polls: told already. The polls have committed what they
        # published, so the outbox is the whole truth: one row, for aad-1.
        room.write(30, {**good, "rack-001": 86.0, "rack-002": -40.0})
        await room.poll(31, rules)
        for seconds in (45, 195):
            room.write(seconds, good)
            await room.poll(seconds + 1, rules)
        assert [await rows(told)] + [await rows(chat) for chat in others] == [1, 0, 0]
        # Five minutes of good readings: the end of both faults, in one text.
        room.write(345, good)
        await room.poll(346, rules)
        await eventually(lambda: len(room.operations(told)) == 2)
        text = room.operations(told)[1].body["text"]
        assert text.startswith("**Probe faults over** of **server-room-temperature**")
        assert "- sensor rack-001: reads well again (at fault since " in text
        await outbox_drained(room.client.app)
        assert [room.operations(chat) for chat in others] == [[], []]
        assert await room.client.app[SERVICES].actions.alerts.recent_incidents(10) == []
    finally:
        await room.close()


async def test_an_incident_goes_on_after_a_restart(
    aiohttp_client: Any, influxdb: InfluxServer, connector: ConnectorStandIn, database_url: str
) -> None:
    first = await make_room(aiohttp_client, influxdb, connector, database_url, 2, 0.2)
    first.write(0, sensors(3, 29.0))
    await first.poll(1)
    await eventually(lambda: all(len(first.operations(c)) == 1 for c in first.chats))
    await first.close()
    await first.client.close()

    # A new process on the same database: the incident and its cards carry over.
    app = create_app(load_settings(environ={
        "DATABASE_URL": database_url, "MONITORING_ENABLED": "false",
        "INCIDENT_UPDATE_WINDOW_SECONDS": "0.2"}, env_file=None))
    second = Room(await aiohttp_client(TestServer(app)), influxdb, first.database, connector,
                  first.chats, first.t0)
    second.write(60, sensors(3, 21.0))
    await second.poll(61)
    await eventually(lambda: all(len(second.operations(c)) == 3 for c in second.chats))
    for chat in second.chats:
        post, update, note = second.operations(chat)
        assert update.method == "PUT" and update.activity_id == post.answered_id
        assert "Resolved" in card_text(card_of(update))
        assert note.body["text"].startswith("Resolved:")
    await second.close()


# the incident model on its own -------------------------------------------------------------


def event(kind: EventKind, sensor: str, severity: Severity | None, value: float,
          at: datetime) -> AlertEvent:
    return AlertEvent(kind=kind, rule="r", alert_id=f"id-{sensor}", at=at,
                      series={"room": "a", "sensor": sensor}, group={"room": "a"},
                      severity=severity, value=value,
                      threshold={Severity.CRIT: 32.0, Severity.WARN: 27.0}.get(severity),
                      unit="°C", since=at, thresholds={"warn_above": 27.0, "crit_above": 32.0})


def test_an_incident_is_as_severe_as_its_worst_series_and_ends_with_the_last() -> None:
    t = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    incident = Incident.open_with(event(EventKind.FIRED, "s1", Severity.WARN, 28.0, t))
    incident.apply(event(EventKind.FIRED, "s1", Severity.WARN, 28.0, t))
    assert incident.settle(t, EventKind.FIRED) is Change.ESCALATED  # from nothing to warning
    incident.apply(event(EventKind.FIRED, "s2", Severity.WARN, 29.0, t))
    assert incident.settle(t, EventKind.FIRED) is Change.UPDATED
    incident.dirty.clear()
    incident.apply(event(EventKind.ESCALATED, "s2", Severity.CRIT, 33.0, t))
    assert incident.settle(t, EventKind.ESCALATED) is Change.ESCALATED
    assert incident.severity is Severity.CRIT and incident.kind == "escalated"
    assert [m.key for m in incident.hottest()] == ["room=a\x1fsensor=s2", "room=a\x1fsensor=s1"]
    incident.apply(event(EventKind.RESOLVED, "s2", None, 25.0, t))
    assert incident.settle(t, EventKind.RESOLVED) is Change.UPDATED  # de-escalated
    assert incident.severity is Severity.WARN and incident.kind == "de-escalated"
    assert incident.open
    incident.apply(event(EventKind.RESOLVED, "s1", None, 24.0, t))
    assert incident.settle(t, EventKind.RESOLVED) is Change.RESOLVED
    assert not incident.open and incident.counts() == Counts(crit=0, warn=0, no_data=0, ok=2)
    assert (incident.peak, incident.peak_label) == (33.0, "s2")
    # The document survives the database: the same incident comes back.
    document = IncidentSnapshot.loads(incident.snapshot().dumps())
    again = Incident.from_snapshot(incident.alert_id, document, {
        key: Member.from_json(key, member.to_json()) for key, member in incident.members.items()})
    assert again.snapshot() == document
