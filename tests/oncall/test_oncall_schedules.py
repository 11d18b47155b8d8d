# ruff: noqa: F811 (the fixtures of test_delivery are imported)
"""A rule whose target is `oncall:<schedule>` reaches the person on call, in their personal
chat, and nobody else; `oncall` in chat says who that is (real endpoint, real database,
connector stand-in)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from common.clock import utcnow
from common.settings import load_settings
from heatwatch.server import SERVICES, create_app
from notifier.alerts.events import EventKind, Severity
from notifier.alerts.schedules import Schedules, parse_schedules
from notifier.delivery.handoff import Handoffs
from storage.audit import AuditLog
from tests.oncall.test_oncall import installed_in
from tests.standins.connector import ConnectorStandIn
from tests.support.delivery import (  # noqa: F401 (fixtures)
    alert_event,
    delivery_env,
    new_alert_id,
    publish,
)
from tests.support.teams import (
    CHANNEL,
    GROUP,
    PERSONAL,
    TEAM,
    USER2_AAD,
    USER_AAD,
    TeamsChannel,
    card_text,
)
from tests.support.waiting import eventually


def schedule_rules(now: datetime) -> str:
    """Megan (the personal chat's user) is on call now by an override; Alex by the rotation."""
    start = (now - timedelta(minutes=30)).isoformat()
    end = (now + timedelta(hours=1)).isoformat()
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
    teams = await installed_in(on_call, connector)  # personal, team, group chat
    alert_id = new_alert_id()
    await publish(on_call, alert_event(EventKind.FIRED, alert_id))

    # Planned in the same transaction as the incident: one delivery, to Megan's chat.
    rows = await on_call.app[SERVICES].database.fetch_all(
        "SELECT DISTINCT conversation_id FROM deliveries WHERE alert_id = ?", (alert_id,))
    assert [row["conversation_id"] for row in rows] == [PERSONAL]
    await eventually(lambda: connector.cards(PERSONAL))

    await teams.ok("message_personal", text="oncall")
    await eventually(lambda: any("On call now" in t for t in connector.texts(PERSONAL)))
    [answer] = [t for t in connector.texts(PERSONAL) if "On call now" in t]
    assert "**dc**: Megan Bowen (override) until " in answer
    assert "then Alex Wilber" in answer

    await teams.ok("message_personal", text="oncall ops")
    await eventually(lambda: any("no schedule named `ops`" in t
                                 for t in connector.texts(PERSONAL)))


POLICY_RULES = f"""
[[schedule]]
name = "dc"
people = ["{USER_AAD}"]
rotation = "daily"

[[escalation]]
name = "dc-critical"
steps = [
  {{ after = "5m", targets = ["oncall:dc"] }},
  {{ after = "15m", targets = ["team:{TEAM}"] }},
]
repeat = "30m"

[[rule]]
name = "server-room-temperature"
measurement = "temperature"
warn_above = 27.0
crit_above = 32.0
targets = ["conversation:{GROUP}"]
escalation = "dc-critical"
"""


async def escalations(client: TestClient, alert_id: str) -> list[str]:
    return [entry.detail for entry in await AuditLog(client.app[SERVICES].database).of_alert(alert_id)
            if entry.action == "escalated"]


async def test_a_policy_pages_step_by_step_once_each_across_a_restart_until_acknowledged(
    aiohttp_client: Any, delivery_env: dict[str, str], tmp_path: Path,
    connector: ConnectorStandIn
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(POLICY_RULES)
    env = {**delivery_env, "RULES_FILE": str(rules)}

    def start() -> Any:
        return aiohttp_client(create_app(load_settings(environ=env, env_file=None)))

    first = await start()
    await installed_in(first, connector)  # personal, team, group chat
    alert_id = new_alert_id()
    await publish(first, alert_event(EventKind.FIRED, alert_id, Severity.CRIT, 33.0, 32.0))
    await eventually(lambda: connector.cards(GROUP))
    now = utcnow()

    assert await first.app[SERVICES].escalator.check(now + timedelta(minutes=4)) == 0
    assert await first.app[SERVICES].escalator.check(now + timedelta(minutes=6)) == 1
    assert await escalations(first, alert_id) == [
        "step 1 of dc-critical: nobody acknowledged for 6 min; told: Megan Bowen"]
    await eventually(lambda: connector.cards(PERSONAL))  # the person on call gets the card
    await first.close()

    second = await start()  # a restart: nothing is taken twice
    assert await second.app[SERVICES].escalator.check(now + timedelta(minutes=7)) == 0
    assert await second.app[SERVICES].escalator.check(now + timedelta(minutes=16)) == 1
    await eventually(lambda: connector.cards(CHANNEL))  # step 2: the team's channel
    assert await second.app[SERVICES].escalator.check(now + timedelta(minutes=44)) == 0
    assert await second.app[SERVICES].escalator.check(now + timedelta(minutes=46)) == 1  # repeated
    assert await second.app[SERVICES].escalator.check(now + timedelta(minutes=50)) == 0
    details = await escalations(second, alert_id)
    assert [d.split(":")[0] for d in details] == [
        "step 1 of dc-critical", "step 2 of dc-critical", "step 2 of dc-critical again (2)"]
    assert len(connector.cards(CHANNEL)) == 1 and len(connector.cards(PERSONAL)) == 1

    await teams_of(second, connector).ok("message_personal", text=f"ack {alert_id[:8]}")
    assert await second.app[SERVICES].escalator.check(now + timedelta(hours=3)) == 0
    assert len(await escalations(second, alert_id)) == 3


def teams_of(client: TestClient, connector: ConnectorStandIn) -> TeamsChannel:
    return TeamsChannel(client, connector.url)


async def test_oncall_take_and_give_back_change_who_is_paged_and_are_audited(
    on_call: TestClient, connector: ConnectorStandIn
) -> None:
    teams = await installed_in(on_call, connector)  # personal, team, group chat

    async def say(text: str) -> str:
        before = len(connector.texts(PERSONAL))
        await teams.ok("message_personal", text=text)
        await eventually(lambda: len(connector.texts(PERSONAL)) > before)
        return connector.texts(PERSONAL)[before]

    # Megan is on call by the file's override; giving back what she did not take is refused.
    assert await say("oncall give back") == "You have no override in **dc** to give back."
    assert (await say("oncall take 2h")).startswith("You are on call in **dc** until ")
    assert "**dc**: Megan Bowen (override)" in await say("oncall")
    assert await say("oncall take 2y") == ("Say for how long, from a minute to 7 days, like "
                                           "**oncall take 2h**.")
    assert await say("oncall take 1h ops") == "There is no schedule named `ops`."
    given = await say("oncall give back dc")
    assert given == "Given back. On call in **dc** now: Megan Bowen."  # the file's override

    rows = await on_call.app[SERVICES].database.fetch_all(
        "SELECT actor, detail FROM audit_events WHERE action = 'oncall-override'")
    assert sorted(row["detail"].split(" ")[0] for row in rows) == ["gave", "took"]
    assert {row["actor"] for row in rows} == {"Megan Bowen"}

    # In the team's channel nobody can be told apart: take is refused there.
    await teams.ok("message_channel", text="<at>HeatWatch</at> oncall take 1h")
    await eventually(lambda: any("write **oncall take** in your personal chat" in t
                                 for t in connector.texts()))


async def test_the_person_taking_over_gets_one_handoff_card(
    on_call: TestClient, connector: ConnectorStandIn
) -> None:
    await installed_in(on_call, connector)  # personal, team, group chat
    await publish(on_call, alert_event(EventKind.FIRED, new_alert_id()))
    await eventually(lambda: connector.cards(PERSONAL))

    # Megan's override began half an hour ago, taking over from Alex (the rotation). The
    # background job may be first: either way, one handoff is recorded.
    handoffs = on_call.app[SERVICES].handoffs
    await handoffs.check(utcnow())
    await eventually(lambda: any("You are on call: dc" in card_text(r.body["attachments"][0]
                                                                    ["content"])
                                 for r in connector.sent(PERSONAL) if r.body.get("attachments")))
    [card] = [r.body["attachments"][0]["content"] for r in connector.sent(PERSONAL)
              if "You are on call" in json.dumps(r.body)]
    text = card_text(card)
    assert "Megan Bowen, you take over from Alex Wilber, on call until " in text
    assert "Open incidents: 1" in text and "server-room-temperature, room r1" in text
    assert "The last shift" in text
    assert await handoffs.check(utcnow()) == 0  # once
    rows = await on_call.app[SERVICES].database.fetch_all(
        "SELECT detail FROM audit_events WHERE action = 'handoff'")
    assert [row["detail"] for row in rows] == ["dc: Alex Wilber to Megan Bowen"]


async def test_a_rotation_of_one_person_hands_over_to_nobody_new(
    on_call: TestClient, connector: ConnectorStandIn
) -> None:
    await installed_in(on_call, connector)  # personal, team, group chat
    now = utcnow()
    # Megan alone, a turn every hour: each turn "begins" within the hour a handoff is greeted.
    solo = Schedules(parse_schedules(f"""
[[schedule]]
name = "solo"
people = ["{USER_AAD}"]
rotation = "1h"
start = "{(now - timedelta(days=1)).date()}"
handoff = "{now:%H}:00"
"""))
    assert solo.shift("solo", now).since is not None
    assert await Handoffs(on_call.app[SERVICES].database, solo).check(now) == 0
    # The control: beside "dc" (Alex, then Megan by an override) a handoff is greeted, and "solo"
    # still adds none. The app's own background job may greet "dc" first: judge the audit trail.
    two = Schedules([*solo, *on_call.app[SERVICES].rules.schedules])
    await Handoffs(on_call.app[SERVICES].database, two).check(now)
    rows = await on_call.app[SERVICES].database.fetch_all(
        "SELECT detail FROM audit_events WHERE action = 'handoff'")
    assert [row["detail"] for row in rows] == ["dc: Alex Wilber to Megan Bowen"]
