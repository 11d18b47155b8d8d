# ruff: noqa: F811 (the fixtures of test_delivery are imported)
"""Routing is the access boundary, through the real endpoint, real databases and the connector
stand-in: a conversation that was never told of an incident gets "not found here" for it from
every surface (commands, card buttons, reactions), changes nothing, and each refusal is one INFO
line; an operator (OPERATORS) sees and acts on it from anywhere."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from common.clock import utcnow
from heatwatch.server import SERVICES
from notifier.alerts.events import EventKind
from notifier.alerts.store import AlertStore
from storage.audit import AuditLog
from tests.alerts.test_trend_chart import chart_app, heat_up
from tests.delivery.test_delivery import alert_counts
from tests.servers.influx import InfluxServer
from tests.standins.connector import ConnectorStandIn
from tests.support.delivery import (  # noqa: F401 (fixtures)
    alert_event,
    card_of,
    client,
    installed,
    new_alert_id,
    publish,
)
from tests.support.process import ROOT
from tests.support.teams import (
    CHANNEL,
    GROUP,
    PERSONAL,
    TEAM,
    TENANT,
    USER2_AAD,
    USER2_ID,
    TeamsChannel,
    card_text,
    load_activity,
)
from tests.support.waiting import eventually

ALEX = {"id": USER2_ID, "aadObjectId": USER2_AAD, "name": "Alex Wilber"}  # the operator
GROUP_CONVERSATION = {"isGroup": True, "conversationType": "groupChat", "tenantId": TENANT,
                      "id": GROUP}
OTHER_CHANNEL = "19:0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e@thread.skype"  # a channel told nothing


@pytest.fixture
def delivery_env(database_url: str) -> dict[str, str]:
    """test_delivery's app, where Alex is an operator by AAD object id (in any case) and every
    channel of TEAM by team id."""
    return {"DATABASE_URL": database_url, "MONITORING_ENABLED": "false",
            "RULES_FILE": str(ROOT / "rules.toml"), "DELIVERY_BACKOFF_SECONDS": "0.05",
            "OPERATORS": f"{USER2_AAD.upper()}, {TEAM}"}


async def say_in_group(teams: TeamsChannel, connector: ConnectorStandIn, text: str,
                       who: dict[str, str] | None = None) -> str:
    """A command in the group chat (installed, but no rule tells it anything); the answer."""
    before = len(connector.texts(GROUP))
    overrides: dict[str, Any] = {"text": text, "conversation": GROUP_CONVERSATION}
    if who is not None:
        overrides["from"] = who
    await teams.ok("message_personal", **overrides)
    return connector.texts(GROUP)[before]


async def press_in_group(client: TestClient, connector: ConnectorStandIn, verb: str,
                         alert_id: str, who: dict[str, str] | None = None,
                         **data: Any) -> dict[str, Any]:
    action = load_activity("card_action", connector.url, conversation=GROUP_CONVERSATION)
    action["value"]["action"].update(verb=verb, data={"alertId": alert_id, **data})
    if who is not None:
        action["from"] = who
    response = await client.post("/api/messages", json=action)
    assert response.status == 200
    return dict(await response.json())


def refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "notifier.chat.access"
            and r.getMessage().startswith("Refused ")]


async def fired(client: TestClient, connector: ConnectorStandIn) -> str:
    alert_id = new_alert_id()
    await publish(client, alert_event(EventKind.FIRED, alert_id))
    await eventually(lambda: connector.cards(PERSONAL) and connector.cards(CHANNEL))
    return alert_id


async def test_a_chat_never_told_of_an_incident_finds_nothing_and_changes_nothing(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn,
    caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "notifier.chat.access")
    alert_id = await fired(client, connector)
    short = alert_id[:8]
    assert not connector.sent(GROUP)  # the rule tells the personal chat and the channel only
    card_before = card_text(card_of(connector.cards(PERSONAL)[0]))
    unknown = "0123456789abcdef"  # no such alert: the answers must not tell the two apart

    listed = await say_in_group(installed, connector, "alerts")
    assert short not in listed and listed == "No firing alerts found here. 🎉"
    assert await say_in_group(installed, connector, "history") == "No incidents found here."
    for command in ("history", "ack", "unack", "unsnooze", "snooze"):
        duration = " 1h" if command == "snooze" else ""
        answer = await say_in_group(installed, connector, f"{command} {short}{duration}")
        assert answer == f"No alert `{short}` found here.", command
        assert await say_in_group(installed, connector, f"{command} {unknown[:8]}{duration}"
                                  ) == f"No alert `{unknown[:8]}` found here."
    for verb, data in (("ack", {}), ("unack", {}), ("snooze", {"hours": 1}),
                       ("unsnooze", {}), ("silence", {"hours": 1}), ("expire-silence", {})):
        body = await press_in_group(client, connector, verb, alert_id, **data)
        assert body["type"] == "application/vnd.microsoft.activity.message", verb
        assert body["value"] == f"No alert `{alert_id}` found here.", verb
        assert (await press_in_group(client, connector, verb, unknown, **data))["value"] == \
            f"No alert `{unknown}` found here."
    # A 👍 in the group chat on the personal chat's card: no card of the alert is there.
    reaction = load_activity("reactions_added_channel", connector.url,
                             conversation=GROUP_CONVERSATION,
                             replyToId=connector.cards(PERSONAL)[0].answered_id)
    reaction["channelData"] = {"tenant": {"id": TENANT}}
    await installed.ok(reaction)

    # Committed state: nothing acknowledged or snoozed, no audit entry, no card update queued.
    alert = await AlertStore(client.app[SERVICES].database).get(alert_id)
    assert alert is not None and alert.acknowledged_by is None
    assert await AlertStore(client.app[SERVICES].database).snoozes_in(TENANT, GROUP, utcnow()) == {}
    assert [e.action for e in await AuditLog(client.app[SERVICES].database).of_alert(alert_id)] == [
        "fired"]
    assert await alert_counts(client) == {"done": 2}
    assert card_text(card_of(connector.cards(PERSONAL)[0])) == card_before
    # One INFO line per refused command or button about the existing alert (5 + 6).
    lines = refusals(caplog)
    assert len(lines) == 11 and all(r.levelno == logging.INFO for r in lines)
    assert all(short in r.getMessage() and GROUP in r.getMessage() for r in lines)


async def test_an_operator_sees_and_acts_from_a_chat_never_told(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn,
    caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "notifier.chat.access")
    alert_id = await fired(client, connector)
    short = alert_id[:8]

    assert short in await say_in_group(installed, connector, "alerts", who=ALEX)
    assert short in await say_in_group(installed, connector, "history", who=ALEX)
    assert (await say_in_group(installed, connector, f"history {short}", who=ALEX)
            ).startswith(f"Timeline of `{short}`")
    answer = await say_in_group(installed, connector, f"ack {short}", who=ALEX)
    assert answer.startswith(f"Acknowledged `{short}`") and "by Alex Wilber" in answer
    # The chats that were told see who acknowledged (the card updates of the action).
    await eventually(lambda: connector.updates(PERSONAL) and connector.updates(CHANNEL))
    assert "Acknowledged by Alex Wilber" in card_text(card_of(connector.updates(PERSONAL)[-1]))
    body = await press_in_group(client, connector, "unack", alert_id, who=ALEX)
    assert body["type"] == "application/vnd.microsoft.card.adaptive"
    assert "Acknowledged by" not in card_text(body["value"])
    # The person next to the operator is not one.
    assert await say_in_group(installed, connector, f"ack {short}") == \
        f"No alert `{short}` found here."
    assert len(refusals(caplog)) == 1

    # A channel of an operators' team (OPERATORS lists the team id) that was told nothing.
    before = len(connector.texts(OTHER_CHANNEL))
    await installed.ok("message_channel", text=f"<at>HeatWatch</at> history {short}",
                       conversation={"isGroup": True, "conversationType": "channel",
                                     "tenantId": TENANT, "id": OTHER_CHANNEL})
    await eventually(lambda: len(connector.texts(OTHER_CHANNEL)) > before)
    assert connector.texts(OTHER_CHANNEL)[before].startswith(f"Timeline of `{short}`")


async def test_status_shows_a_chat_only_the_rooms_of_the_rules_that_alert_it(
        aiohttp_client: Any, influxdb: InfluxServer, tmp_path: Path,
        connector: ConnectorStandIn) -> None:
    influxdb.create_database("access")
    app = await chart_app(aiohttp_client, influxdb, "access", tmp_path, connector)
    teams = TeamsChannel(app, connector.url)
    await teams.ok("groupchat_bot_added")  # installed; no rule alerts it
    await teams.drained()
    await heat_up(app, influxdb, "access")
    await eventually(lambda: connector.cards(PERSONAL), timeout=20)

    before = len(connector.sent(PERSONAL))
    await teams.ok("message_personal", text="status")
    [status] = connector.sent(PERSONAL)[before:]
    assert "server-room-1" in card_text(card_of(status))
    answer = await say_in_group(teams, connector, "status")
    assert answer == ("No sensors found here: no rule alerts this conversation (**rules** "
                      "lists them).")
    assert await say_in_group(teams, connector, "status server-room-1") == answer
