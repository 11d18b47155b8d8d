"""A dew point rule against a real InfluxDB 1.x server: temperature and humidity points go in,
the rule fires on the dew point computed from them, and its card says both inputs."""

from __future__ import annotations

import pytest

from common.errors import ConfigError
from notifier.alerts.events import EventKind, Severity
from notifier.alerts.incidents import Incident
from notifier.alerts.record import AlertRecord
from notifier.delivery.cards import alert_card
from notifier.delivery.view import IncidentView
from notifier.monitoring.flux import build_flux
from notifier.monitoring.rules import parse_rules
from tests.alerts import test_monitoring
from tests.alerts.test_monitoring import Scenario

# The monitoring tests' fixtures: a fresh InfluxDB database and SQLite state per test.
database, scenario = test_monitoring.database, test_monitoring.scenario

RULES = """
[[rule]]
name = "dew-point"
measurement = "climate"
dew_point = { temperature = "temp", humidity = "rh" }
warn_above = 15.0
crit_above = 17.0
"""


def climate(scenario: Scenario, seconds: float, room: str = "r1", sensor: str = "s1",
            **fields: float) -> None:
    at_ms = int(scenario.at(seconds).timestamp() * 1000)
    values = ",".join(f"{name}={value}" for name, value in fields.items())
    scenario.influx.write(scenario.database_name,
                          [f"climate,room={room},sensor={sensor} {values} {at_ms}"])


def facts(card: dict) -> dict[str, str]:
    return {fact["title"]: fact["value"] for block in card["body"]
            if block["type"] == "FactSet" for fact in block["facts"]}


async def test_a_dew_point_rule_fires_from_temperature_and_humidity(scenario: Scenario) -> None:
    monitor = scenario.monitor(rules=RULES)
    climate(scenario, 0, temp=24.0, rh=50.0)  # dew point 12.9 °C: fine
    assert await monitor.poll_once(scenario.at(0)) == []
    climate(scenario, 10, temp=24.0, rh=80.0)  # dew point 20.3 °C: critical

    [fired] = await monitor.poll_once(scenario.at(10))

    assert (fired.kind, fired.severity, fired.threshold) == (EventKind.FIRED, Severity.CRIT, 17.0)
    assert fired.value is not None and round(fired.value, 1) == 20.3 and fired.unit == "°C"
    assert fired.inputs == "24 °C, 80 %RH"
    incident = Incident.open_with(fired)
    incident.apply(fired)
    incident.settle(fired.at, fired.kind)
    card = alert_card(IncidentView(AlertRecord(incident.alert_id, "dew-point",
                                               incident.snapshot(), None, None)), now=fired.at)
    assert facts(card)["Computed from"] == "24 °C, 80 %RH"
    assert facts(card)["Value"].startswith("20.3")


async def test_fields_written_apart_pair_and_the_older_one_dates_the_dew_point(
        scenario: Scenario) -> None:
    monitor = scenario.monitor(rules=RULES)
    climate(scenario, 0, temp=26.0)
    climate(scenario, 5, rh=75.0)
    climate(scenario, 5, room="r2", temp=26.0)  # no humidity: no dew point for r2

    [fired] = await monitor.poll_once(scenario.at(6))

    assert fired.series == {"room": "r1", "sensor": "s1"} and fired.since == scenario.at(6)
    assert fired.inputs == "26 °C, 75 %RH"
    [reading] = await monitor.source.latest(monitor.rules[0])
    assert reading.time == scenario.at(0)


async def test_a_chart_of_a_dew_point_rule_is_of_dew_points(scenario: Scenario) -> None:
    monitor = scenario.monitor(rules=RULES)
    climate(scenario, -30, temp=24.0, rh=50.0)
    points = await monitor.source.history(monitor.rules[0], [{"room": "r1", "sensor": "s1"}],
                                          600, 60)
    assert [round(p.value, 1) for p in points] == [12.9]


def test_a_dew_point_rule_names_both_fields_and_no_field() -> None:
    with pytest.raises(ConfigError) as error:
        parse_rules(RULES.replace('rh" }', 'rh", extra = "x" }').replace(
            'measurement = "climate"', 'measurement = "climate"\nfield = "temp"'))
    assert "key 'dew_point': expected the two fields" in str(error.value)
    assert "key 'field': a dew point rule reads the fields named in dew_point" in str(
        error.value)


def test_a_dew_point_rule_says_what_it_watches() -> None:
    assert parse_rules(RULES)[0].watches == "dew point of climate.temp and climate.rh"


def test_a_flux_dew_point_query_reads_both_fields_apart() -> None:
    query = build_flux(parse_rules(RULES)[0], "dc")
    assert '(r._field == "temp" or r._field == "rh")' in query
    assert 'group(columns: ["room", "sensor", "_field"])' in query
