"""A real Alertmanager (tests/servers/alertmanager.py) pointed at the app's /api/alerts/alertmanager
with a bearer token: alerts posted to its API reach Teams (the connector stand-in) as one card
per group, resolving them updates the card, and Silence / Expire silence on the card make and
expire a real silence that Alertmanager then lists."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from common.settings import load_settings
from heatwatch.server import SERVICES, create_app
from tests.servers.alertmanager import AlertmanagerServer
from tests.standins.connector import ConnectorStandIn
from tests.support.delivery import card_of
from tests.support.teams import PERSONAL, TeamsChannel, card_text, load_activity
from tests.support.waiting import eventually, eventually_async

TOKEN = "am-webhook-token-0123456789abcdef"


@pytest.fixture
async def client(aiohttp_client, tmp_path: Path) -> TestClient:
    """The app on SQLite (the receivers' storage runs on both backends in test_receivers)."""
    settings = load_settings(environ={
        "DATABASE_URL": f"sqlite:///{tmp_path}/hw.db", "MONITORING_ENABLED": "false",
        "DELIVERY_BACKOFF_SECONDS": "0.05", "INCIDENT_UPDATE_WINDOW_SECONDS": "0",
        "ALERTMANAGER_WEBHOOK_TOKEN": TOKEN}, env_file=None)
    return await aiohttp_client(create_app(settings))


@pytest.fixture
def alertmanager(client: TestClient) -> Iterator[AlertmanagerServer]:
    server = AlertmanagerServer(str(client.make_url("/api/alerts/alertmanager")), TOKEN)
    server.start()
    yield server
    server.stop()


def alert(sensor: str, ends: datetime | None = None, **labels: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "labels": {"alertname": "RoomTemperatureHigh", "room": "server-room-1",
                   "sensor": sensor, "severity": "critical", **labels},
        "annotations": {"summary": "Server room 1 is too hot",
                        "runbook_url": "https://runbooks.example.com/room-temperature"},
        "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=temperature",
        "startsAt": (datetime.now(UTC) - timedelta(minutes=5)).isoformat()}
    if ends is not None:
        body["endsAt"] = ends.isoformat()
    return body


async def press(client: TestClient, connector: ConnectorStandIn, button: dict[str, Any]
                ) -> dict[str, Any]:
    """Press an Action.Execute button of the personal chat's card; the invoke answer's card."""
    action = load_activity("card_action", connector.url,
                           replyToId=connector.sent(PERSONAL)[0].answered_id)
    action["value"]["action"].update(verb=button["verb"], data=button["data"])
    response = await client.post("/api/messages", json=action)
    assert response.status == 200
    body = await response.json()
    assert body["type"] == "application/vnd.microsoft.card.adaptive", body
    return body["value"]


def buttons(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {a["title"]: a for a in card.get("actions", [])}
    for block in card["body"]:
        if block["type"] == "ActionSet":
            found.update({a["title"]: a for a in block["actions"]})
    return found


async def first_card(client: TestClient, connector: ConnectorStandIn,
                     alertmanager: AlertmanagerServer, alerts: list[dict[str, Any]],
                     cards: int = 1) -> dict[str, Any]:
    """The bot in a personal chat; `alerts` posted to Alertmanager; its first card there, once
    `cards` cards arrived."""
    teams = TeamsChannel(client, connector.url)
    await teams.ok("personal_bot_added")
    await teams.drained()  # the welcome
    connector.clear()
    await asyncio.to_thread(alertmanager.post_alerts, alerts)
    await eventually(lambda: len(connector.sent(PERSONAL)) == cards, timeout=30)
    return card_of(connector.sent(PERSONAL)[0])


async def test_alertmanager_groups_become_one_card_each_and_resolving_updates_them(
        client: TestClient, connector: ConnectorStandIn, alertmanager: AlertmanagerServer
) -> None:
    await first_card(client, connector, alertmanager, [
        alert("rack-3-inlet"), alert("rack-7-inlet"),
        alert("rack-1-inlet", room="server-room-2")], cards=2)

    def texts() -> list[str]:
        return sorted(map(card_text, connector.latest_cards(PERSONAL).values()))

    # A loaded Alertmanager may flush a group before its second alert is in it: the card
    # then gets it by an update. Either way each room ends on one card with all its sensors.
    await eventually(lambda: "rack-7-inlet" in texts()[0], timeout=30)
    assert len(texts()) == 2 and all("CRITICAL: RoomTemperatureHigh" in t for t in texts())
    assert "rack-3-inlet" in texts()[0] and "server-room-1" in texts()[0]
    assert "server-room-2" in texts()[1] and "rack-1-inlet" in texts()[1]

    past = datetime.now(UTC) - timedelta(seconds=1)
    await asyncio.to_thread(alertmanager.post_alerts, [
        alert("rack-3-inlet", past), alert("rack-7-inlet", past)])
    await eventually(lambda: any("Resolved: RoomTemperatureHigh" in card_text(card_of(u))
                                 for u in connector.updates()), timeout=30)
    assert len([s for s in connector.sent(PERSONAL) if s.body.get("attachments")]) == 2


async def test_a_large_group_from_alertmanager_is_taken_in_whole(
        client: TestClient, connector: ConnectorStandIn, alertmanager: AlertmanagerServer
) -> None:
    """60 alerts of one group with long annotations: a notification of some 350 KB, which
    arrives in pieces (a 27-alert group was refused with 400, and Alertmanager does not retry a
    4xx: those alerts never reached Teams). On loopback the pieces are large and often come
    together: the tests that send in 8 KB writes are the ones sure to fail a partial read."""
    alerts = [alert(f"rack-{index}-inlet") for index in range(60)]
    for index, body in enumerate(alerts):
        body["annotations"]["description"] = f"Rack {index} inlet: " + "too hot; " * 600
    await first_card(client, connector, alertmanager, alerts)
    # Alertmanager may flush the group before it has taken in all 60 (a busy machine): the
    # rest follow a group_interval later, to the same incident.
    async def series() -> int:
        row = await client.app[SERVICES].database.fetch_one(
            "SELECT COUNT(*) AS n FROM incident_series")
        return int(row["n"]) if row is not None else 0

    async def all_in() -> bool:
        return await series() >= 60

    await eventually_async(all_in, timeout=30, what="the 60 series in the incident")
    assert await series() == 60 and len(connector.sent(PERSONAL)) == 1


async def test_silence_from_the_card_is_listed_by_alertmanager_and_expire_removes_it(
        client: TestClient, connector: ConnectorStandIn, alertmanager: AlertmanagerServer
) -> None:
    card = await first_card(client, connector, alertmanager, [alert("rack-3-inlet")])

    answer = await press(client, connector, buttons(card)["Silence 1 h"])
    assert "Silenced in Alertmanager by Megan Bowen until" in card_text(answer)
    assert "Expire silence" in buttons(answer)
    silences = await asyncio.to_thread(alertmanager.silences)
    [silence] = [s for s in silences if s["status"]["state"] == "active"]
    assert silence["createdBy"] == "Megan Bowen"
    assert buttons(card)["Silence 1 h"]["data"]["alertId"][:8] in silence["comment"]
    matchers = {m["name"]: m["value"] for m in silence["matchers"]}
    assert matchers == {"alertname": "RoomTemperatureHigh", "room": "server-room-1",
                        "sensor": "rack-3-inlet", "severity": "critical"}
    assert all(m["isEqual"] and not m["isRegex"] for m in silence["matchers"])
    ends = datetime.fromisoformat(silence["endsAt"])
    assert timedelta(minutes=55) < ends - datetime.now(UTC) <= timedelta(hours=1)
    assert silence["id"] in card_text(answer)
    # Every card of the incident shows the silence.
    await eventually(lambda: any("Silenced in Alertmanager" in card_text(card_of(u))
                                 for u in connector.updates()))

    answer = await press(client, connector, buttons(answer)["Expire silence"])
    assert "Silenced" not in card_text(answer)
    assert "Silence 1 h" in buttons(answer)
    silences = await asyncio.to_thread(alertmanager.silences)
    assert [s["status"]["state"] for s in silences if s["id"] == silence["id"]] == ["expired"]

    # Both are in the incident's history: who, when, until when, which silence.
    alert_id = buttons(card)["Silence 1 h"]["data"]["alertId"]
    before = len(connector.texts(PERSONAL))
    await TeamsChannel(client, connector.url).ok("message_personal",
                                                 text=f"history {alert_id[:8]}")
    steps = connector.texts(PERSONAL)[before].split("\n\n", 1)[1].splitlines()
    assert [step.split("**")[1] for step in steps] == ["fired", "silenced", "silence expired"]
    stamp = r"- \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC "
    assert re.fullmatch(stamp + r"\*\*silenced\*\* by Megan Bowen: in Alertmanager until "
                        r"\d{4}-.+ UTC \(silence " + silence["id"] + r"\)", steps[1]), steps
    assert re.fullmatch(stamp + r"\*\*silence expired\*\* by Megan Bowen: silence "
                        + silence["id"] + ", made by Megan Bowen", steps[2]), steps


async def test_a_silence_that_fails_says_why_on_the_card(
        client: TestClient, connector: ConnectorStandIn, alertmanager: AlertmanagerServer
) -> None:
    card = await first_card(client, connector, alertmanager, [alert("rack-3-inlet")])
    alertmanager.stop()  # gone: the silence cannot be made
    answer = await press(client, connector, buttons(card)["Silence 24 h"])
    text = card_text(answer)
    assert "cannot be reached" in text
    assert "Silence 24 h" in buttons(answer)


async def test_alertmanager_url_wins_over_the_notifications_external_url(
        aiohttp_client, tmp_path: Path, connector: ConnectorStandIn) -> None:
    """Behind a proxy, externalURL is an address HeatWatch cannot use: ALERTMANAGER_URL (with
    its API credentials) is where silences go."""
    settings_env = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/hw.db", "MONITORING_ENABLED": "false",
        "DELIVERY_BACKOFF_SECONDS": "0.05", "INCIDENT_UPDATE_WINDOW_SECONDS": "0",
        "ALERTMANAGER_WEBHOOK_TOKEN": TOKEN, "ALERTMANAGER_API_TOKEN": "am-api-token-0123456789"}
    server = AlertmanagerServer("http://127.0.0.1:1/unused", TOKEN,
                                external_url="https://alertmanager.example.invalid")
    settings = load_settings(environ={**settings_env, "ALERTMANAGER_URL": server.url},
                             env_file=None)
    client = await aiohttp_client(create_app(settings))
    server.webhook_url = str(client.make_url("/api/alerts/alertmanager"))
    server.start()
    try:
        card = await first_card(client, connector, server, [alert("rack-3-inlet")])
        links = {a["title"]: a["url"] for a in card["actions"] if a["type"] == "Action.OpenUrl"}
        assert links["Open in Alertmanager (alertmanager.example.invalid)"] == "https://alertmanager.example.invalid"
        answer = await press(client, connector, buttons(card)["Silence 24 h"])
        assert "Silenced in Alertmanager by Megan Bowen" in card_text(answer)
        silences = await asyncio.to_thread(server.silences)
        assert [s["createdBy"] for s in silences] == ["Megan Bowen"]
    finally:
        server.stop()
