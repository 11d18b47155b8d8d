"""One card per conversation (notifier/delivery/view.py): the answer to a pressed button is the
card the delivery worker then sends to that conversation, snooze, silence and chart included.
A real Alertmanager for *Silence*, a real InfluxDB for the chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from tests.alerts.test_trend_chart import chart_app, chart_of, heat_up, latest_card
from tests.inbound.test_alertmanager import alert, buttons, first_card, press
from tests.inbound.test_alertmanager import alertmanager as alertmanager  # noqa: F401 (fixture)
from tests.inbound.test_alertmanager import client as client  # noqa: F401 (fixture)
from tests.servers.alertmanager import AlertmanagerServer
from tests.servers.influx import InfluxServer
from tests.standins.connector import ConnectorStandIn
from tests.support.delivery import (  # noqa: F401 (fixtures)
    card_of,
)
from tests.support.teams import PERSONAL, card_text
from tests.support.waiting import eventually


def updates_with(connector: ConnectorStandIn, text: str) -> list[dict[str, Any]]:
    return [card_of(u) for u in connector.updates(PERSONAL) if text in card_text(card_of(u))]


async def test_the_silence_answer_is_the_card_the_worker_sends_there(
        client: TestClient, connector: ConnectorStandIn,  # noqa: F811
        alertmanager: AlertmanagerServer) -> None:  # noqa: F811
    card = await first_card(client, connector, alertmanager, [alert("rack-3-inlet")])
    snoozed = await press(client, connector, buttons(card)["Snooze 1 h"])
    assert "Snoozed here by Megan Bowen" in card_text(snoozed)

    answer = await press(client, connector, buttons(snoozed)["Silence 1 h"])
    text = card_text(answer)
    # The answer keeps this chat's snooze (it used to be drawn without it, then redrawn).
    assert "Snoozed here by Megan Bowen" in text and "Silenced in Alertmanager" in text
    assert "Undo snooze" in buttons(answer) and "Expire silence" in buttons(answer)
    sent = await eventually(lambda: updates_with(connector, "Silenced in Alertmanager"))
    assert sent[-1] == answer


async def test_a_button_answer_is_the_card_the_worker_sends_there_chart_included(
        aiohttp_client: Any, influxdb: InfluxServer, tmp_path: Path,
        connector: ConnectorStandIn) -> None:
    influxdb.create_database("views")
    app = await chart_app(aiohttp_client, influxdb, "views", tmp_path, connector)
    await heat_up(app, influxdb, "views")
    await eventually(lambda: chart_of(latest_card(connector)) is not None, timeout=20)
    card = latest_card(connector)
    alert_id = next(a["data"]["alertId"] for a in card["actions"] if a.get("verb") == "ack")

    action = {"verb": "snooze", "data": {"alertId": alert_id, "hours": 1}}
    answer = await press(app, connector, action)
    assert chart_of(answer) is not None and "Snoozed here by Megan Bowen" in card_text(answer)
    sent = await eventually(lambda: updates_with(connector, "Snoozed here"))
    assert sent[-1] == answer
