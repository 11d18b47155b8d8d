"""The exposure report against a real InfluxDB 1.x server and a real SQLite store: known history
written with line protocol, the minutes compared with a hand count; the command line and the
chat command read the same."""

from __future__ import annotations

import csv
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.alerts.events import AlertEvent, EventKind, Severity
from notifier.alerts.incidents import Incident
from notifier.alerts.store import AlertStore
from notifier.chat.access import Operators
from notifier.chat.actions import Actor, AlertActions
from notifier.chat.commands import Commands
from notifier.monitoring.exposure import exposure_reader, read_exposure
from notifier.monitoring.influxql import InfluxQLSource
from notifier.monitoring.rules import Rule, parse_rules
from storage.alert_state import AlertStateStore
from storage.backend import SqlBackend
from storage.database import open_database
from tests.operating.test_operating import cli
from tests.servers.influx import ADMIN, ADMIN_PASSWORD, InfluxServer, point

_databases = itertools.count(1)
RULES = """
[[rule]]
name = "hot-aisle"
measurement = "temperature"
warn_above = 27.0
crit_above = 32.0
"""
HOURS = 3


@dataclass
class History:
    influx: InfluxServer
    name: str
    database: SqlBackend
    database_url: str
    rules: list[Rule]
    now: datetime  # the current minute: point k minutes ago is at now - k min + 10 s

    def ago(self, minutes: int) -> datetime:
        return self.now - timedelta(minutes=minutes)

    def write(self, room: str, sensor: str, values: dict[int, float], base: float) -> None:
        """A point a minute for the last two hours: `values` by minutes ago, else `base`."""
        lines = [point(room, sensor, values.get(k, base),
                       int((self.ago(k) + timedelta(seconds=10)).timestamp() * 1000))
                 for k in range(1, 121)]
        self.influx.write(self.name, lines)

    def source(self) -> InfluxQLSource:
        return InfluxQLSource(self.influx.url, self.name, username=ADMIN,
                              password=ADMIN_PASSWORD)


@pytest.fixture
async def history(influxdb: InfluxServer, database_url: str) -> AsyncIterator[History]:
    """Known history in InfluxDB; the incidents in SQLite or PostgreSQL."""
    name = f"exposure{next(_databases)}"
    influxdb.create_database(name)
    database = await open_database(database_url)
    made = History(influxdb, name, database, database_url, parse_rules(RULES),
                   datetime.now(UTC).replace(second=0, microsecond=0))
    # r1: s1 at 28 °C 100..91 min ago and 30..28 min ago; s2 at 33 °C 95..86 min ago.
    made.write("r1", "s1", {**{k: 28.0 for k in range(91, 101)},
                            **{k: 28.0 for k in range(28, 31)}}, 24.0)
    made.write("r1", "s2", {k: 33.0 for k in range(86, 96)}, 24.0)
    # r2: exactly the warning threshold (inclusive) 50 min ago, else 22 °C.
    made.write("r2", "s1", {50: 27.0}, 22.0)
    yield made
    await database.close()


# Hand count: r1 outside recommended 100..86 (15 min) and 30..28 (3 min) = 18 min, outside
# allowable 95..86 = 10 min; r2 1 min and none. Every room has 120 minutes of data.
EXPECTED = {"r1": (18.0, 10.0, 120.0), "r2": (1.0, 0.0, 120.0)}


async def record_incident(history: History) -> str:
    """The incident HeatWatch told people about for r1's first excursion, acknowledged by
    Dana two minutes after it opened."""
    def event(kind: EventKind, sensor: str, severity: Severity | None, value: float,
              minutes_ago: int) -> AlertEvent:
        at = history.ago(minutes_ago)
        return AlertEvent(kind=kind, rule="hot-aisle", alert_id=f"inc-{sensor}", at=at,
                          series={"room": "r1", "sensor": sensor}, group={"room": "r1"},
                          severity=severity, value=value, since=at, unit="°C",
                          thresholds={"warn_above": 27.0, "crit_above": 32.0})

    first = event(EventKind.FIRED, "s1", Severity.WARN, 28.0, 100)
    incident = Incident.open_with(first)
    for item in (first, event(EventKind.FIRED, "s2", Severity.CRIT, 33.0, 95),
                 event(EventKind.RESOLVED, "s1", None, 24.0, 90),
                 event(EventKind.RESOLVED, "s2", None, 24.0, 85)):
        incident.apply(item)
        incident.settle(item.at, item.kind)
    alerts = AlertStore(history.database)
    await history.database.execute_atomically(alerts.incident_statements(
        incident.alert_id, "influxdb", "hot-aisle", incident.group_key,
        incident.snapshot().dumps(), incident.open, False,
        {k: m.dumps() for k, m in incident.members.items()}))
    await history.database.execute_atomically([alerts.acknowledge_statement(
        incident.alert_id, "Dana", history.ago(98))])
    return incident.alert_id


async def test_minutes_match_a_hand_count_of_the_written_history(history: History) -> None:
    alert_id = await record_incident(history)
    source = history.source()
    try:
        report = await read_exposure(source, history.rules, AlertStore(history.database),
                                     HOURS * 3600, history.now + timedelta(seconds=30))
    finally:
        await source.close()

    assert report.step == 60 and not report.failures
    assert {r.room: (r.recommended, r.allowable, r.covered) for r in report.rooms} == EXPECTED
    worst = report.worst[0]
    assert (worst.room, worst.start, worst.minutes, worst.peak, worst.allowable) == (
        "r1", history.ago(100), 15.0, 33.0, True)
    assert worst.incidents == ((alert_id, "Dana"),)
    assert [(e.room, e.minutes, e.incidents) for e in report.worst[1:]] == [
        ("r1", 3.0, ()), ("r2", 1.0, ())]
    [crit] = report.responses
    assert (crit.severity, crit.incidents, crit.mtta, crit.time_to_resolve) == (
        "crit", 1, 120.0, 900.0)


async def test_one_room_is_one_room(history: History) -> None:
    source = history.source()
    try:
        report = await read_exposure(source, history.rules, AlertStore(history.database),
                                     HOURS * 3600, history.now, room="r2")
    finally:
        await source.close()
    assert [(r.room, r.recommended) for r in report.rooms] == [("r2", 1.0)]


async def test_report_in_chat_is_a_card_with_a_bar_chart_per_room(history: History) -> None:
    source = history.source()
    operator = "3f0c2a1e-0000-4000-8000-000000000001"  # OPERATORS see every room
    commands = Commands(AlertActions(history.database, operators=Operators.of([operator])),
                        AlertStateStore(history.database),
                        history.rules, exposure=exposure_reader(source, history.rules,
                                                                AlertStore(history.database)))
    actor = Actor(tenant_id="t", conversation_id="c", name="Dana", aad_object_id=operator)
    stranger = Actor(tenant_id="t", conversation_id="c2", name="Eve")
    try:
        reply = await commands.run("report 3h", actor)
        wrong = await commands.run("report r1 400d", actor)
        hidden = await commands.run("report 3h", stranger)
    finally:
        await source.close()

    # A chat no rule alerts sees no room and no incident of the report.
    assert hidden.card is not None and hidden.data == {"rooms": 0}
    assert not [b for b in hidden.card["body"] if b["type"] == "Chart.VerticalBar"]
    assert reply.card is not None
    [chart] = [b for b in reply.card["body"] if b["type"] == "Chart.VerticalBar"]
    assert chart["data"] == [{"x": "r1", "y": 18.0}, {"x": "r2", "y": 1.0}]
    assert "up to 92 days" in wrong.text


def test_the_command_line_prints_and_writes_the_csv(history: History, tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    out = tmp_path / "exposure.csv"
    result = cli("report", "--since", f"{HOURS}h", "--csv", str(out), env={
        "DATABASE_URL": history.database_url, "RULES_FILE": str(rules),
        "INFLUX_URL": history.influx.url, "INFLUX_DATABASE": history.name,
        "INFLUX_USERNAME": ADMIN, "INFLUX_PASSWORD": ADMIN_PASSWORD})

    assert result.returncode == 0, result.stderr
    assert "Worst excursions:" in result.stdout
    rows = {row["room"]: row for row in csv.DictReader(out.open(encoding="utf-8"))}
    assert {room: (float(r["minutes_outside_recommended"]),
                   float(r["minutes_outside_allowable"]), float(r["minutes_with_data"]))
            for room, r in rows.items()} == EXPECTED
    bad = cli("report", "--since", "soon")
    assert bad.returncode == 2 and "--since 'soon'" in bad.stderr


async def test_a_rule_whose_history_cannot_be_read_is_named(history: History) -> None:
    from tests.support.process import free_port

    source = InfluxQLSource(f"http://127.0.0.1:{free_port()}", history.name)
    try:
        report = await read_exposure(source, history.rules, AlertStore(history.database),
                                     HOURS * 3600, history.now)
    finally:
        await source.close()
    assert report.rooms == [] and len(report.failures) == 1
    assert report.failures[0].startswith("hot-aisle: cannot reach InfluxDB")
