# ruff: noqa: F811 (the fixtures of test_delivery are imported)
"""A rule whose target is `oncall:<schedule>` reaches the person on call, in their personal
chat, and nobody else; `oncall` in chat says who that is (real endpoint, real database,
connector stand-in)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from common.settings import load_settings
from heatwatch.server import DATABASE, create_app
from notifier.alerts.events import EventKind
from tests.standins.connector import ConnectorStandIn
from tests.teams import PERSONAL, USER2_AAD, USER_AAD, TeamsChannel
from tests.test_delivery import (  # noqa: F401 (fixtures)
    alert_event,
    delivery_env,
    eventually,
    new_alert_id,
    publish,
)


def schedule_rules(now: datetime) -> str:
    """Megan (the personal chat's user) is on call now by an override; Alex by the rotation."""
    start, end = (now - timedelta(hours=1)).isoformat(), (now + timedelta(hours=1)).isoformat()
    return f"""
[[schedule]]
name = "dc"
time_zone = "Europe/Amsterdam"
people = ["{USER2_AAD}"]
names = {{ "{USER_AAD}" = "Megan Bowen", "{USER2_AAD}" = "Alex Wilber" }}
rotation = "weekly"
overrides = [{{ person = "{USER_AAD}", from = "{start}", to = "{end}" }}]

[[rule]]
name = "server-room-temperature"
measurement = "temperature"
warn_above = 27.0
crit_above = 32.0
targets = ["oncall:dc"]
"""


@pytest.fixture
async def on_call(aiohttp_client: Any, delivery_env: dict[str, str],
                  tmp_path: Path) -> TestClient:
    rules = tmp_path / "rules.toml"
    rules.write_text(schedule_rules(datetime.now(UTC)))
    settings = load_settings(environ={**delivery_env, "RULES_FILE": str(rules)}, env_file=None)
    return await aiohttp_client(create_app(settings))


async def test_an_oncall_target_reaches_only_the_person_on_call(
    on_call: TestClient, connector: ConnectorStandIn
) -> None:
    teams = TeamsChannel(on_call, connector.url)
    for name in ("personal_bot_added", "team_bot_added", "groupchat_bot_added"):
        await teams.ok(name)
    await teams.drained()
    alert_id = new_alert_id()
    await publish(on_call, alert_event(EventKind.FIRED, alert_id))

    # Planned in the same transaction as the incident: one delivery, to Megan's chat.
    rows = await on_call.app[DATABASE].fetch_all(
        "SELECT DISTINCT conversation_id FROM deliveries WHERE alert_id = ?", (alert_id,))
    assert [row["conversation_id"] for row in rows] == [PERSONAL]
    await eventually(lambda: connector.cards(PERSONAL))

    await teams.ok("message_personal", text="oncall")
    await eventually(lambda: any("On call now" in t for t in connector.texts(PERSONAL)))
    [answer] = [t for t in connector.texts(PERSONAL) if "On call now" in t]
    assert "**dc**: Megan Bowen (override) until " in answer
    assert "then Alex Wilber" in answer

    await teams.ok("message_personal", text="oncall ops")
    await eventually(lambda: any("no schedule named 'ops'" in t
                                 for t in connector.texts(PERSONAL)))
