# ruff: noqa: F811 (the fixtures of test_delivery are imported)
"""`status` by room across rules, `status <room>` as a table, and a welcome that says what the
rules watch and where alerts go: a room watched by a temperature and a humidity rule, through
the real endpoint and storage."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from heatwatch.server import SERVICES
from notifier.alerts.events import Severity, series_key
from notifier.chat.commands import COMMAND_TABLE
from notifier.monitoring.engine import Phase, SeriesState
from storage.alert_state import AlertStateStore
from tests.standins.connector import ConnectorStandIn
from tests.support.delivery import (  # noqa: F401 (fixtures)
    card_of,
    client,
)
from tests.support.teams import CHANNEL, PERSONAL, TeamsChannel, card_text

RULES = """
[[rule]]
name = "temperature"
measurement = "temperature"
group_by = ["room", "sensor"]
warn_above = 27.0
{targets}

[[rule]]
name = "humidity"
measurement = "climate"
field = "relative_humidity"
unit = "%"
group_by = ["room", "sensor"]
warn_above = 60.0
{targets}
"""


@pytest.fixture
def audience(request: pytest.FixtureRequest) -> str:
    """Whom the rules alert: everyone (the default) or a conversation named by `targets`."""
    return str(getattr(request, "param", "default audience"))


@pytest.fixture
def delivery_env(audience: str, database_url: str, tmp_path: Path) -> dict[str, str]:
    targets = 'targets = ["conversation:19:nowhere@thread.tacv2"]' \
        if audience == "targeted" else ""
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES.format(targets=targets))
    return {"DATABASE_URL": database_url, "MONITORING_ENABLED": "false",
            "RULES_FILE": str(rules), "DELIVERY_BACKOFF_SECONDS": "0.05"}


@pytest.mark.parametrize("audience", ["default audience", "targeted"], indirect=True)
async def test_the_welcome_says_what_the_rules_watch_and_where_alerts_go(
    teams: TeamsChannel, connector: ConnectorStandIn, delivery_env: dict[str, str]
) -> None:
    await teams.ok("personal_bot_added")
    await teams.ok("team_bot_added")
    await teams.drained()
    [personal] = connector.texts(PERSONAL)
    [channel] = connector.texts(CHANNEL)
    for text in (personal, channel):
        assert "I watch the temperature and relative humidity readings" in text
        assert "server-room temperatures" not in text
    if "targets" in Path(delivery_env["RULES_FILE"]).read_text().split("[[rule]]")[1]:
        assert "Alerts go to the conversations the rules name" in personal
        assert "I'll post alerts here" not in personal
        assert "I post alerts to its alert channel" not in channel
    else:
        assert "I'll post alerts here in our chat" in personal
        assert "In this team I post alerts to its alert channel" in channel


async def test_status_counts_a_room_once_across_rules_with_true_plurals(
    client: TestClient, teams: TeamsChannel, connector: ConnectorStandIn
) -> None:
    seen = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    states = []
    for sensor, temperature, humidity in (("rack-07-inlet-north", 28.5, 45.0),
                                          ("rack-08-inlet-north", 22.0, 52.5)):
        tags = {"room": "hall-1", "sensor": sensor}
        states.append(SeriesState(
            rule="temperature", key=series_key(tags), tags=tags, last_value=temperature,
            last_seen=seen, phase=Phase.FIRING if temperature > 27 else Phase.OK,
            severity=Severity.WARN if temperature > 27 else None))
        states.append(SeriesState(rule="humidity", key=series_key(tags), tags=tags,
                                  last_value=humidity, last_seen=seen))
    await AlertStateStore(client.app[SERVICES].database).save((s.rule, s.key, s.dumps())
                                                     for s in states)

    await teams.ok("message_personal", text="status")
    await teams.ok("message_personal", text="status hall-1")
    overview, room = (card_of(answer) for answer in connector.sent(PERSONAL)[-2:])

    text = card_text(overview)
    assert "2 sensors in 1 room: 1 firing, 0 without data, 0 open alerts." in text
    assert ("hall-1=2 sensors · 1 warning · temperature up to 28.5 °C (rack-07-inlet-north) · "
            "humidity up to 52.5 % (rack-08-inlet-north)") in text

    # One row per sensor, one column per rule: the sensor's name is one short cell.
    [table] = [block for block in room["body"] if block["type"] == "Table"]
    assert len(table["columns"]) == 3
    text = card_text(room)
    assert "2 sensors, latest reading {{DATE(2026-11-21T10:00:00Z, SHORT)}}" in text
    assert "Sensor / temperature / humidity" in text  # the rules file's order
    assert "rack-07-inlet-north / 28.5 °C warning / 45 %" in text
    assert text.index("rack-07") < text.index("rack-08")  # the one in trouble first


async def test_every_command_of_the_table_is_understood(
    teams: TeamsChannel, connector: ConnectorStandIn, delivery_env: dict[str, str]
) -> None:
    """The command table (Teams' menu, checked against the manifest in test_manifest.py) is
    what the bot answers: no listed command gets "I didn't understand"."""
    for name in COMMAND_TABLE:
        before = len(connector.sent(PERSONAL))
        await teams.ok("message_personal", text=name)
        await teams.drained()
        answers = connector.sent(PERSONAL)[before:]
        assert answers, name
        assert not any(str(a.body.get("text", "")).startswith("I didn't understand")
                       for a in answers), name
    await teams.ok("message_personal", text="bogus")
    assert connector.texts(PERSONAL)[-1].startswith("I didn't understand")
