"""The delivery tests' shared pieces: alert events as the alert core makes them, the card of a
connector request, and the app fixtures (delivery settings, the client, the bot installed in a
personal chat, a team and a group chat). A test file imports the fixtures it uses by name."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from common.settings import load_settings
from heatwatch.server import SERVICES, create_app
from notifier.alerts.events import AlertEvent, EventKind, Severity, make_alert_id
from tests.standins.connector import ConnectorStandIn
from tests.support.process import ROOT
from tests.support.teams import TeamsChannel

SERIES = {"room": "r1", "sensor": "s1"}

# The server-room rule of the incident and chart tests (no reminders).
RULES = """
[[rule]]
name = "server-room-temperature"
description = "Server room air temperature"
measurement = "temperature"
group_by = ["room", "sensor"]
warn_above = 27.0
crit_above = 32.0
runbook_url = "https://wiki.example.com/runbooks/cooling?room={room}"
repeat = "0"
"""


def alert_event(kind: EventKind, alert_id: str, severity: Severity | None = Severity.WARN,
                value: float = 28.5, threshold: float | None = 27.0,
                series: dict[str, str] | None = None) -> AlertEvent:
    return AlertEvent(kind=kind, rule="server-room-temperature", alert_id=alert_id,
                      at=datetime.now(UTC), series=dict(series or SERIES), severity=severity,
                      value=value, threshold=threshold, unit="°C",
                      since=datetime(2026, 11, 21, 10, 0, tzinfo=UTC))


def new_alert_id() -> str:
    return make_alert_id("server-room-temperature", "r1/s1", datetime.now(UTC))


def card_of(received: Any) -> dict[str, Any]:
    [attachment] = received.body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return attachment["content"]


async def publish(client: TestClient, *events: AlertEvent) -> None:
    """Publish through the app's sink: when this returns, the outbox rows are committed."""
    await client.app[SERVICES].sink.publish(list(events))


@pytest.fixture
def delivery_env(database_url: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "MONITORING_ENABLED": "false",
            "RULES_FILE": str(ROOT / "rules.toml"), "DELIVERY_BACKOFF_SECONDS": "0.05",
            "DELIVERY_MAX_ATTEMPTS": "3", "DELIVERY_GIVE_UP_AFTER_SECONDS": "0"}


@pytest.fixture
async def client(aiohttp_client, delivery_env: dict[str, str]) -> TestClient:
    return await aiohttp_client(create_app(load_settings(environ=delivery_env, env_file=None)))


@pytest.fixture
async def installed(teams: TeamsChannel, connector: ConnectorStandIn) -> TeamsChannel:
    """The bot is in a personal chat, a team (alert channel selected) and a group chat."""
    for name in ("personal_bot_added", "team_bot_added", "groupchat_bot_added"):
        await teams.ok(name)
    await teams.drained()  # the welcomes
    connector.clear()
    return teams
