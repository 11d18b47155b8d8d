"""Temperature monitoring against a real InfluxDB 1.x server: points written with line protocol,
polls run at chosen times, events asserted. State lives in a real SQLite file."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from common.errors import StorageError
from common.metrics import Metrics
from notifier.alerts.events import AlertEvent, EventKind, Severity
from notifier.monitoring.influxql import InfluxQLSource
from notifier.monitoring.monitor import Monitor
from notifier.monitoring.rules import parse_rules
from notifier.monitoring.sources import Failure, SourceError
from storage.alert_state import AlertStateStore
from storage.backend import SqlBackend
from storage.database import open_database
from tests.servers.influx import ADMIN, ADMIN_PASSWORD, InfluxServer, point
from tests.support.sinks import RecordingSink

_databases = itertools.count(1)

RULE = """
[[rule]]
name = "hot-aisle"
measurement = "temperature"
group_by = ["room", "sensor"]
warn_above = 27.0
crit_above = 32.0
hysteresis = 1.0
for = "{pending}"
no_data = "{no_data}"
repeat = "{repeat}"
"""


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[SqlBackend]:
    backend = await open_database(f"sqlite:///{tmp_path}/state.db")
    yield backend
    await backend.close()


@dataclass
class Scenario:
    influx: InfluxServer
    database_name: str
    store: AlertStateStore
    t0: datetime
    sink: RecordingSink = field(default_factory=RecordingSink)
    made: list[Monitor] = field(default_factory=list)

    def at(self, seconds: float) -> datetime:
        return self.t0 + timedelta(seconds=seconds)

    def write(self, seconds: float, value: float, room: str = "r1", sensor: str = "s1") -> None:
        at_ms = int(self.at(seconds).timestamp() * 1000)
        self.influx.write(self.database_name, [point(room, sensor, value, at_ms)])

    def monitor(self, pending: str = "0s", no_data: str = "5m", repeat: str = "1h",
                rules: str | None = None, metrics: Metrics | None = None,
                **source_options: str) -> Monitor:
        text = rules or RULE.format(pending=pending, no_data=no_data, repeat=repeat)
        options = {"username": ADMIN, "password": ADMIN_PASSWORD, **source_options}
        source = InfluxQLSource(self.influx.url, self.database_name, **options)
        monitor = Monitor(parse_rules(text), source, self.store, self.sink, interval=1.0,
                          down_after=30.0, metrics=metrics)
        self.made.append(monitor)
        return monitor

    async def close(self) -> None:
        for monitor in self.made:
            await monitor.source.close()


@pytest.fixture
async def scenario(influxdb: InfluxServer, database: SqlBackend) -> AsyncIterator[Scenario]:
    name = f"t{next(_databases)}"
    influxdb.create_database(name)
    t0 = datetime.now(UTC).replace(microsecond=0)
    made = Scenario(influxdb, name, AlertStateStore(database), t0)
    yield made
    await made.close()


async def test_fires_after_for_holds_and_carries_the_details(scenario: Scenario) -> None:
    monitor = scenario.monitor(pending="30s")
    scenario.write(0, 28.5)

    assert await monitor.poll_once(scenario.at(0)) == []  # pending
    assert await monitor.poll_once(scenario.at(29)) == []
    [fired] = await monitor.poll_once(scenario.at(30))

    assert fired.kind is EventKind.FIRED and fired.severity is Severity.WARN
    assert fired.rule == "hot-aisle" and fired.series == {"room": "r1", "sensor": "s1"}
    assert fired.value == 28.5 and fired.threshold == 27.0 and fired.unit == "°C"
    assert fired.since == scenario.at(0)


async def test_pending_is_cancelled_when_the_value_cools(scenario: Scenario) -> None:
    monitor = scenario.monitor(pending="30s")
    scenario.write(0, 28.5)
    await monitor.poll_once(scenario.at(0))
    scenario.write(10, 20.0)
    await monitor.poll_once(scenario.at(10))
    scenario.write(20, 28.5)
    await monitor.poll_once(scenario.at(20))

    assert await monitor.poll_once(scenario.at(40)) == []  # the new pending started at 20
    [fired] = await monitor.poll_once(scenario.at(50))
    assert fired.kind is EventKind.FIRED and fired.since == scenario.at(20)


async def test_thresholds_below_fire_too(scenario: Scenario) -> None:
    rules = """
    [[rule]]
    name = "too-cold"
    measurement = "temperature"
    warn_below = 18.0
    crit_below = 15.0
    hysteresis = 0.5
    """
    monitor = scenario.monitor(rules=rules)
    scenario.write(0, 16.0)
    scenario.write(0, 14.0, sensor="s2")

    events = await monitor.poll_once(scenario.at(0))

    assert {(e.series["sensor"], e.kind, e.severity, e.threshold) for e in events} == {
        ("s1", EventKind.FIRED, Severity.WARN, 18.0),
        ("s2", EventKind.FIRED, Severity.CRIT, 15.0),
    }
    scenario.write(5, 18.2)  # past 18 but not past 18 + 0.5: still warn
    assert await monitor.poll_once(scenario.at(5)) == []
    scenario.write(6, 18.6)
    [resolved] = await monitor.poll_once(scenario.at(6))
    assert resolved.kind is EventKind.RESOLVED


async def test_escalation_hysteresis_and_resolution(scenario: Scenario) -> None:
    monitor = scenario.monitor()
    timeline = [(28.0, [(EventKind.FIRED, Severity.WARN)]),
                (32.0, [(EventKind.ESCALATED, Severity.CRIT)]),
                (31.5, []),  # above 32 - 1: still critical
                (30.9, [(EventKind.DEESCALATED, Severity.WARN)]),
                (26.5, []),  # above 27 - 1: still warning
                (33.0, [(EventKind.ESCALATED, Severity.CRIT)]),
                (25.9, [(EventKind.RESOLVED, None)])]
    alert_ids = set()
    for second, (value, expected) in enumerate(timeline):
        scenario.write(second, value)
        events = await monitor.poll_once(scenario.at(second))
        assert [(e.kind, e.severity) for e in events] == expected, (value, events)
        alert_ids.update(e.alert_id for e in events)
    assert len(alert_ids) == 1  # one alert, whose state changed

    scenario.write(10, 29.0)  # firing again later is a new alert
    [again] = await monitor.poll_once(scenario.at(10))
    assert again.kind is EventKind.FIRED and again.alert_id not in alert_ids


async def test_reminders_repeat_while_firing(scenario: Scenario) -> None:
    monitor = scenario.monitor(repeat="60s")
    scenario.write(0, 29.0)
    await monitor.poll_once(scenario.at(0))

    assert await monitor.poll_once(scenario.at(59)) == []
    [reminder] = await monitor.poll_once(scenario.at(60))
    assert reminder.kind is EventKind.REMINDER and reminder.since == scenario.at(0)
    assert await monitor.poll_once(scenario.at(100)) == []
    assert [e.kind for e in await monitor.poll_once(scenario.at(121))] == [EventKind.REMINDER]


async def test_no_data_then_data_back(scenario: Scenario) -> None:
    monitor = scenario.monitor(no_data="60s")
    scenario.write(0, 21.0)
    assert await monitor.poll_once(scenario.at(0)) == []

    assert await monitor.poll_once(scenario.at(59)) == []
    [silent] = await monitor.poll_once(scenario.at(60))
    assert silent.kind is EventKind.NO_DATA and silent.since == scenario.at(0)
    assert await monitor.poll_once(scenario.at(90)) == []  # said once

    scenario.write(95, 29.0)
    events = await monitor.poll_once(scenario.at(95))
    assert [(e.kind, e.alert_id == silent.alert_id) for e in events] == [
        (EventKind.DATA_BACK, True), (EventKind.FIRED, False)]


async def test_many_sensors_come_back_from_one_query(scenario: Scenario) -> None:
    lines = [point(f"room{i % 5}", f"s{i}", 20.0 + i % 10, int(scenario.t0.timestamp() * 1000))
             for i in range(200)]
    scenario.influx.write(scenario.database_name, lines)
    monitor = scenario.monitor()

    readings = await monitor.source.latest(monitor.rules[0])

    assert len(readings) == 200
    events = await monitor.poll_once(scenario.at(0))
    assert len(events) == sum(1 for i in range(200) if 20.0 + i % 10 >= 27.0)


async def test_restart_in_the_middle_of_for_keeps_the_timer_and_never_refires(
    scenario: Scenario,
) -> None:
    scenario.write(0, 28.0)
    first = scenario.monitor(pending="30s")
    assert await first.poll_once(scenario.at(0)) == []

    second = scenario.monitor(pending="30s")  # a new process: state comes from the database
    [fired] = await second.poll_once(scenario.at(30))
    assert fired.kind is EventKind.FIRED and fired.since == scenario.at(0)

    third = scenario.monitor(pending="30s")
    assert await third.poll_once(scenario.at(31)) == []  # already fired: not again
    scenario.write(32, 20.0)
    [resolved] = await third.poll_once(scenario.at(32))
    assert resolved.kind is EventKind.RESOLVED and resolved.alert_id == fired.alert_id


async def test_wrong_credentials_are_an_auth_failure_logged_once(
    scenario: Scenario, caplog: pytest.LogCaptureFixture
) -> None:
    monitor = scenario.monitor(password="wrong-password")
    with pytest.raises(SourceError) as raised:
        await monitor.source.latest(monitor.rules[0])
    assert raised.value.failure is Failure.AUTH
    assert "INFLUX_USERNAME/INFLUX_PASSWORD" in str(raised.value)

    with caplog.at_level(logging.DEBUG, logger="notifier.monitoring.monitor"):
        for second in range(3):
            assert await monitor.poll_once(scenario.at(second)) == []
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "refused the credentials" in errors[0].getMessage()
    assert "wrong-password" not in caplog.text


async def test_wrong_database_is_reported_as_not_found(scenario: Scenario) -> None:
    monitor = scenario.monitor()
    source = InfluxQLSource(scenario.influx.url, "no_such_database", username=ADMIN,
                            password=ADMIN_PASSWORD)
    try:
        with pytest.raises(SourceError) as raised:
            await source.latest(monitor.rules[0])
    finally:
        await source.close()
    assert raised.value.failure is Failure.NOT_FOUND
    assert "database not found: no_such_database" in str(raised.value)


async def test_server_going_away_and_coming_back(tmp_path: Path, database: SqlBackend,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    influx = InfluxServer(tmp_path / "influx").start()
    influx.create_database("dc")
    scenario = Scenario(influx, "dc", AlertStateStore(database),
                        datetime.now(UTC).replace(microsecond=0))
    monitor = scenario.monitor()
    try:
        scenario.write(0, 29.0)
        assert [e.kind for e in await monitor.poll_once(scenario.at(0))] == [EventKind.FIRED]

        influx.stop()
        with caplog.at_level(logging.DEBUG, logger="notifier.monitoring.monitor"):
            assert await monitor.poll_once(scenario.at(1)) == []
            assert not monitor.health.healthy
            assert monitor.next_delay() >= 0.9  # backing off, at least the interval
            assert await monitor.poll_once(scenario.at(20)) == []
            [down] = await monitor.poll_once(scenario.at(31))  # down_after = 30 s
            assert down.kind is EventKind.SOURCE_DOWN and down.since == scenario.at(1)
            assert await monitor.poll_once(scenario.at(40)) == []  # announced once
        assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1
        assert monitor.next_delay() > 1.5  # exponential backoff

        influx.start()
        [up] = await monitor.poll_once(scenario.at(50))
        assert up.kind is EventKind.SOURCE_UP and up.alert_id == down.alert_id
        assert monitor.health.healthy and monitor.next_delay() == 1.0
        # The alert that was firing before the outage is still the same alert.
        scenario.write(51, 20.0)
        assert [e.kind for e in await monitor.poll_once(scenario.at(51))] == [EventKind.RESOLVED]
    finally:
        await scenario.close()
        influx.stop()


async def test_a_poller_taking_over_mid_outage_continues_it_and_announces_once(
    tmp_path: Path, database: SqlBackend,
) -> None:
    """Replicas hand the poller over (the leader died) while InfluxDB is down: the new poller
    keeps the outage's start, announces source-down once, and source-up with the same id."""
    influx = InfluxServer(tmp_path / "influx").start()
    influx.create_database("dc")
    scenario = Scenario(influx, "dc", AlertStateStore(database),
                        datetime.now(UTC).replace(microsecond=0))
    try:
        first = scenario.monitor()
        await first.load()
        influx.stop()
        assert await first.poll_once(scenario.at(1)) == []  # the outage starts
        assert await first.poll_once(scenario.at(20)) == []

        second = scenario.monitor()  # another replica becomes the poller
        await second.load()
        [down] = await second.poll_once(scenario.at(31))  # 30 s after the start, not after 31
        assert down.kind is EventKind.SOURCE_DOWN and down.since == scenario.at(1)

        third = scenario.monitor()  # and another, after the announcement
        await third.load()
        assert await third.poll_once(scenario.at(40)) == []  # not announced again
        influx.start()
        [up] = await third.poll_once(scenario.at(50))
        assert up.kind is EventKind.SOURCE_UP and up.alert_id == down.alert_id

        fourth = scenario.monitor()  # the outage is over for everyone
        await fourth.load()
        assert fourth.health.healthy
    finally:
        await scenario.close()
        influx.stop()


# Probe faults: not heat ----------------------------------------------------------------------

ROOM_RULE = """
[[rule]]
name = "room"
measurement = "temperature"
warn_above = 27.0
crit_above = 32.0
stuck_after = "{stuck}"
"""


async def poll_room(scenario: Scenario, monitor: Monitor, seconds: float,
                    values: dict[str, float]) -> list[AlertEvent]:
    """The events of a poll that could page: all but the probe-fault notes for cards."""
    for sensor, value in values.items():
        scenario.write(seconds, value, sensor=sensor)
    events = await monitor.poll_once(scenario.at(seconds))
    return [e for e in events if e.kind is not EventKind.PROBE_FAULT]


async def test_an_implausible_reading_pages_nobody_and_is_listed(scenario: Scenario) -> None:
    metrics = Metrics()
    monitor = scenario.monitor(rules=ROOM_RULE.format(stuck="30m"), metrics=metrics)

    def counted() -> float | None:
        return metrics.registry.get_sample_value("heatwatch_probe_faults",
                                                 {"kind": "implausible"})

    await poll_room(scenario, monitor, 0, {"s1": 24.0, "s2": 24.1})
    # One reading of 85 °C paged critical with for = 0.
    assert await poll_room(scenario, monitor, 15, {"s1": 85.0, "s2": 24.1}) == []
    [note] = [e for e in scenario.sink.events if e.kind is EventKind.PROBE_FAULT]
    assert note.detail == "reads 85 °C, outside -20..80 °C"  # for an open room's card
    [fault] = monitor.probe_faults()
    assert (fault.kind, fault.tags, fault.value) == ("implausible", {"room": "r1",
                                                                     "sensor": "s1"}, 85.0)
    assert "outside -20..80 °C" in fault.detail
    assert counted() == 1
    # Stored with the series' state: `status` on any replica lists it.
    stored = await scenario.store.load()
    assert json.loads(stored[("room", fault.key)])["fault"].startswith("implausible: reads 85 °C")
    assert await monitor.poll_once(scenario.at(30)) == []  # the same reading, polled again
    assert await poll_room(scenario, monitor, 45, {"s1": 24.2, "s2": 24.1}) == []
    assert monitor.probe_faults() == [] and counted() == 0
    assert json.loads((await scenario.store.load())[("room", fault.key)])["fault"] == ""


async def test_a_jump_the_neighbours_do_not_show_waits_for_the_next_reading(
        scenario: Scenario) -> None:
    monitor = scenario.monitor(rules=ROOM_RULE.format(stuck="30m"))
    await poll_room(scenario, monitor, 0, {"s1": 24.0, "s2": 24.1, "s3": 23.9})
    # s1 jumps to 29 alone and comes back: the probe's doing, never paged.
    assert await poll_room(scenario, monitor, 15, {"s1": 29.0, "s2": 24.1, "s3": 23.9}) == []
    assert [f.kind for f in monitor.probe_faults()] == ["jump"]
    assert await poll_room(scenario, monitor, 30, {"s1": 24.1, "s2": 24.0, "s3": 23.9}) == []
    assert monitor.probe_faults() == []
    # s1 jumps to 29 alone and stays there: a local hot spot, real heat, paged one poll late.
    assert await poll_room(scenario, monitor, 45, {"s1": 29.0, "s2": 24.1, "s3": 23.9}) == []
    [fired] = await poll_room(scenario, monitor, 60, {"s1": 29.2, "s2": 24.1, "s3": 23.9})
    assert fired.kind is EventKind.FIRED and fired.series["sensor"] == "s1"
    assert fired.value == 29.2 and monitor.probe_faults() == []


async def test_a_jump_the_neighbours_show_is_heat_at_once(scenario: Scenario) -> None:
    monitor = scenario.monitor(rules=ROOM_RULE.format(stuck="30m"))
    await poll_room(scenario, monitor, 0, {"s1": 24.0, "s2": 24.1, "s3": 23.9})
    events = await poll_room(scenario, monitor, 15, {"s1": 28.0, "s2": 27.5, "s3": 27.2})
    assert sorted(e.series["sensor"] for e in events) == ["s1", "s2", "s3"]
    assert monitor.probe_faults() == []


async def test_a_probe_stuck_while_its_neighbours_move_is_flagged(scenario: Scenario) -> None:
    monitor = scenario.monitor(rules=ROOM_RULE.format(stuck="2m"))
    flagged = None
    for k in range(20):  # every 15 s: s1 reads 24.0 exactly, s2 drifts
        await poll_room(scenario, monitor, 15 * k, {"s1": 24.0, "s2": 24.0 + 0.05 * k})
        if monitor.probe_faults() and flagged is None:
            flagged = 15 * k
    [fault] = monitor.probe_faults()
    assert fault.kind == "stuck" and fault.tags["sensor"] == "s1"
    assert flagged is not None and 120 <= flagged <= 120 + 2 * 15  # stuck_after + two polls
    await poll_room(scenario, monitor, 300, {"s1": 24.3, "s2": 25.0})
    assert monitor.probe_faults() == []


async def test_a_fast_rise_pages_at_once_when_the_room_shares_it_and_a_door_transient_not(
        scenario: Scenario) -> None:
    """Two rooms of four probes, read every 15 s: in r1 three probes rise 2.5 °C in a minute
    and go on (a cooling failure); in r2 one probe does the same for a minute only, then
    holds and falls back (a door opened beside it)."""
    monitor = scenario.monitor(rules=ROOM_RULE.format(stuck="0") + 'rise_warn = "5/15m"\n')
    fired: dict[str, float] = {}
    for k in range(40):
        minute = k / 4
        rise = 2.5 * max(0.0, minute - 5)
        door = rise if minute <= 6 else 2.5 if minute <= 7 else max(0.0, 2.5 - (minute - 7))
        jitter = 0.02 * ((7 * k) % 3 - 1)  # a little noise
        for sensor in ("s1", "s2", "s3", "s4"):
            scenario.write(15 * k, 22.0 + (rise if sensor != "s4" else 0.0) + jitter,
                           room="r1", sensor=sensor)
            scenario.write(15 * k, 22.0 + (door if sensor == "s1" else 0.0) + jitter,
                           room="r2", sensor=sensor)
        for event in await monitor.poll_once(scenario.at(15 * k)):
            if event.kind is EventKind.FIRED:
                fired.setdefault(f"{event.series['room']} {event.series['sensor']}", minute)
    assert sorted(fired) == ["r1 s1", "r1 s2", "r1 s3"]  # nothing in r2
    assert max(fired.values()) <= 6.25  # a minute and a poll into the rise, under 27 °C


async def test_a_poll_whose_events_were_not_stored_is_decided_again(
        scenario: Scenario) -> None:
    """The database failed while the poll's events were written: the poller must not keep
    what it decided only in memory (the alert would be lost); the next poll decides again."""
    monitor = scenario.monitor()
    scenario.write(0, 28.0)
    scenario.sink.failures = 1
    with pytest.raises(StorageError):
        await monitor.poll_once(scenario.at(1))
    assert scenario.sink.events == []
    await monitor.poll_once(scenario.at(2))
    assert scenario.sink.kinds() == [(EventKind.FIRED, Severity.WARN)]
