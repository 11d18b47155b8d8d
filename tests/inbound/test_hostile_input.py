# ruff: noqa: F811 (the fixtures of test_oncall are imported)
"""Huge and hostile input through the real app, measured on what the Bot Connector stand-in
receives: every card and text stays under the message budget (`notifier.delivery.budget`),
and no text from a sender or a Teams user arrives as a link, a mention or markup; the only
links are the buttons of URL fields (`common.literal`).

SQLite only: what is sent does not depend on the storage backend.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from common.clock import utcnow
from common.literal import inert
from common.settings import load_settings
from heatwatch.server import SERVICES, create_app
from notifier.alerts.events import Severity
from notifier.chat.commands import STATUS_LIMIT
from notifier.delivery.budget import MESSAGE_BUDGET
from notifier.inbound import alertmanager
from tests.bot.test_literal import HOSTILE
from tests.delivery.test_delivery import card_of, eventually
from tests.inbound.test_receivers import AM_TOKEN, INFLUX_TOKEN, fixture, post, resolved
from tests.oncall.test_oncall import (  # noqa: F401 (fixtures)
    delivery_env,
    escalating,
    escalating_env,
    fired,
    installed_in,
    notes,
    press,
    say,
)
from tests.standins.connector import ConnectorStandIn, Member
from tests.support.process import ROOT
from tests.support.rooms import Room, room_fixture
from tests.support.teams import (
    GROUP,
    PERSONAL,
    USER2_AAD,
    USER2_ID,
    USER_AAD,
    USER_ID,
    TeamsChannel,
    card_text,
)

KB64 = 64 * 1024
EVIL = "https://evil.example/phish"
HOSTILE_NAME = f"<at>Boss</at> [verify]({EVIL}) **now**"
# What must not arrive verbatim: each is a link, a mention or markup in one of the probes.
MARKERS = ["<at>", "</at>", "<a ", "<b>", "<img", "<script", "](", "][", "[Click", "[verify",
           "**urgent**", "**now**", "_now_", "~~never~~", "`rm", "&lt;", "&#60;", "{{DATE(2017"]
BLOCKS = re.compile(r"(?m)^[ \t]*(?:# Heading|> quote|- item|1\. first|---$|===$)")
LINKISH = re.compile(r"(?i)\b(?:https?|ftp|mailto|javascript|data):[/\w]|://|\bwww\.|"
                     r"\bevil\.example/")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/heatwatch.db"


@pytest.fixture
async def client(aiohttp_client: Any, database_url: str) -> TestClient:
    return await aiohttp_client(create_app(load_settings(environ={
        "DATABASE_URL": database_url, "MONITORING_ENABLED": "false",
        "RULES_FILE": str(ROOT / "rules.toml"), "DELIVERY_BACKOFF_SECONDS": "0.05",
        "INCIDENT_UPDATE_WINDOW_SECONDS": "0", "INBOUND_MAX_BYTES": str(64 * 1024 * 1024),
        "ALERTMANAGER_WEBHOOK_TOKEN": AM_TOKEN, "INFLUXDB_WEBHOOK_TOKEN": INFLUX_TOKEN},
        env_file=None)))


@pytest.fixture
async def installed(teams: TeamsChannel, connector: ConnectorStandIn) -> TeamsChannel:
    for name in ("personal_bot_added", "team_bot_added"):
        await teams.ok(name)
    await teams.drained()
    connector.clear()
    return teams


def messages(connector: ConnectorStandIn) -> list[dict[str, Any]]:
    """Every message posted or updated (accepted or not)."""
    return [r.body for r in connector.received if r.method in ("POST", "PUT")
            and "/activities" in r.path and isinstance(r.body, dict)]


def assert_within_budget(bodies: list[dict[str, Any]]) -> None:
    assert bodies
    for body in bodies:
        assert len(json.dumps(body)) <= MESSAGE_BUDGET, (len(json.dumps(body)),
                                                         json.dumps(body)[:300])


def shown_texts(body: dict[str, Any]) -> list[str]:
    """What Teams renders of a message: its text and summary, and every card's texts, facts and
    button titles."""
    texts = [str(body.get("text") or ""), str(body.get("summary") or "")]
    for attachment in body.get("attachments") or []:
        card = attachment.get("content") or {}
        texts.append(card_text(card))
        texts += [str(a.get("title")) for a in card.get("actions") or []]
        texts += [json.dumps(card)]  # anything nested (containers, action sets)
    return texts


def assert_inert(bodies: list[dict[str, Any]], urls: set[str]) -> None:
    """No marker, no link-like text, no mention entity; link buttons only to `urls`."""
    assert bodies
    for body in bodies:
        for text in shown_texts(body):
            plain = text.replace('\\"', '"')
            assert not [m for m in MARKERS if m in plain], (text[:400], body)
            assert not BLOCKS.search(plain), (BLOCKS.search(plain), text[:400])
            visible = plain
            for url in urls:  # the buttons' own URLs (JSON) are the only links
                visible = visible.replace(url.replace("/", "\\/"), "").replace(url, "")
            visible = re.sub(r'"(?:url|\$schema)": "[^"]*"', "", visible)
            assert not LINKISH.search(visible), (LINKISH.search(visible), text[:400])
        assert not [e for e in body.get("entities") or [] if e.get("type") == "mention"]
        for attachment in body.get("attachments") or []:
            card = attachment.get("content") or {}
            assert "msteams" not in card  # no card mention entities
            for action in card.get("actions") or []:
                if action["type"] == "Action.OpenUrl":
                    assert action["url"] in urls, action
                    assert action["url"].startswith(("http://", "https://"))


async def notify(client: TestClient, payload: dict[str, Any]) -> None:
    """An Alertmanager notification into the app. A body of a few hundred KB or more goes from
    the real parser to the app's alert sink: the receiver's body reading may return only the
    first part of a body that large (issue #23, item 1, fixed on its own branch)."""
    body = json.dumps(payload)
    if len(body) < 100_000:
        status, answer = await post(client, "alertmanager", payload)
        assert status == 200, answer
        return
    intakes = alertmanager.events(alertmanager.parse(payload), utcnow())
    await client.app[SERVICES].sink.publish([event for _, event in intakes])


def many_alerts(count: int, labels: int = 3, value: str = "") -> dict[str, Any]:
    payload = fixture("alertmanager")
    template = payload["alerts"][0]
    payload["alerts"] = []
    for index in range(count):
        alert = json.loads(json.dumps(template))
        alert["fingerprint"] = f"{index:016x}"
        alert["labels"]["instance"] = f"sensor-{index}"
        for extra in range(labels - 3):
            alert["labels"][f"label_{extra:04}"] = value or f"value-{extra}"
        payload["alerts"].append(alert)
    return payload


async def test_ten_thousand_alerts_in_one_notification_stay_under_the_budget(
        client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn) -> None:
    await notify(client, many_alerts(10_000))
    await eventually(lambda: len(connector.cards()) == 2, timeout=120)
    card = card_of(connector.cards(PERSONAL)[0])
    assert "10000 | Critical" in card_text(card)
    assert_within_budget(messages(connector))
    # 40 more groups: the `alerts` command lists 30 incidents and says how many more
    for group in range(40):
        payload = fixture("alertmanager")
        payload["groupKey"] = f"group-{group}"
        payload["groupLabels"]["alertname"] = f"RoomTemperatureHigh{group}"
        for alert in payload["alerts"]:
            alert["fingerprint"] = f"{group:08x}{alert['fingerprint'][8:]}"
            alert["labels"]["alertname"] = f"RoomTemperatureHigh{group}"
        await notify(client, payload)
    await eventually(lambda: len(connector.cards(PERSONAL)) == 41, timeout=120)
    answer = await say(installed, connector, "alerts")
    assert answer.count("\n- `") == 30 and answer.endswith("- and 11 more alerts")
    assert_within_budget(messages(connector))


async def test_a_thousand_labels_and_64_kb_values_are_clipped_on_cards_and_texts(
        client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn) -> None:
    payload = many_alerts(3, labels=1000)
    payload["groupLabels"] = {f"group_{n:04}": f"g{n}" for n in range(1000)}
    payload["groupLabels"]["alertname"] = "Room" + "R" * KB64
    huge = "x" * KB64
    for alert in payload["alerts"]:
        alert["labels"]["label_0001"] = huge
        alert["labels"]["big_" + "k" * KB64] = "v"
        alert["annotations"] = {"summary": huge, "description": huge,
                                "runbook_url": "https://runbooks.example.com/" + "a" * KB64}
    payload["commonAnnotations"] = {"summary": huge, "description": huge}
    await notify(client, payload)
    await eventually(lambda: len(connector.cards()) == 2, timeout=60)
    card = card_of(connector.cards(PERSONAL)[0])
    text = card_text(card)
    assert "more labels" in text and "…" in text
    assert not [a for a in card.get("actions", []) if "runbooks" in a.get("url", "")]
    await say(installed, connector, "alerts")
    await say(installed, connector, "history")
    await notify(client, resolved(payload))
    await eventually(lambda: any("Resolved" in t for t in connector.texts(PERSONAL)))
    assert_within_budget(messages(connector))


async def test_sender_text_never_arrives_as_a_link_mention_or_markup(
        client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn) -> None:
    payload = fixture("alertmanager")
    payload["groupLabels"] = {"alertname": HOSTILE[0], "room": HOSTILE[7]}
    payload["commonLabels"] = {}
    payload["commonAnnotations"] = {"summary": "\n".join(HOSTILE[:7]),
                                    "description": "\n".join(HOSTILE[7:])}
    for alert in payload["alerts"]:
        alert["labels"] = {**payload["groupLabels"], "severity": "critical",
                           "instance": alert["labels"]["instance"],
                           **{f"h{n}": text for n, text in enumerate(HOSTILE)},
                           HOSTILE[0]: HOSTILE[2]}
        alert["annotations"] = {"summary": HOSTILE[1], "description": HOSTILE[5],
                                "runbook_url": "javascript:alert(1)",
                                "dashboard_url": "https://grafana.example.com/d/room"}
    status, body = await post(client, "alertmanager", payload)
    assert status == 200, body
    await eventually(lambda: len(connector.cards()) == 2)
    card = card_of(connector.cards(PERSONAL)[0])
    titles = {a["title"] for a in card["actions"] if a["type"] == "Action.OpenUrl"}
    assert "Dashboard (grafana.example.com)" in titles
    assert "Open in Alertmanager (alertmanager.example.com:9093)" in titles
    # A person with a hostile display name acknowledges; the card says who, literally.
    who = {"id": USER_ID, "name": HOSTILE_NAME, "aadObjectId": USER_AAD}
    alert_id = next(a["data"]["alertId"] for a in card["actions"] if a.get("verb") == "ack")
    answer = await press(client, connector, "ack", alert_id, who=who)
    answers = [answer.get("value")] if isinstance(answer.get("value"), dict) else []
    await say(installed, connector, "alerts", who=who)
    await say(installed, connector, "history", who=who)
    await say(installed, connector, f"history {alert_id[:8]}", who=who)
    await say(installed, connector, f"ack {HOSTILE[0]}", who=who)
    await say(installed, connector, HOSTILE[3], who=who)
    status, _ = await post(client, "alertmanager", resolved(payload))
    await eventually(lambda: any("Resolved" in t for t in connector.texts(PERSONAL)))
    # an InfluxDB 2 check with a hostile name, message and tags
    row = fixture("influxdb")
    row.update({"_check_name": HOSTILE[6], "_message": "\n".join(HOSTILE),
                "room": HOSTILE[4], "sensor": HOSTILE[9]})
    status, body = await post(client, "influxdb", row, token=INFLUX_TOKEN)
    assert status == 200, body
    await eventually(lambda: len(connector.cards(PERSONAL)) == 2)
    urls = {"https://grafana.example.com/d/room", "http://alertmanager.example.com:9093",
            *[str(a["generatorURL"]) for a in payload["alerts"]]}
    sent = messages(connector)
    assert any("Acknowledged by" in json.dumps(b) for b in sent)
    assert_inert(sent + [{"attachments": [{"content": c}]} for c in answers], urls)
    assert_within_budget(sent)


def _tag(value: str) -> str:
    """A tag value in InfluxDB line protocol (commas, spaces and = escaped)."""
    return re.sub(r"([, =])", r"\\\1", value)


crowded = room_fixture(2, 0.0)


async def test_a_room_of_very_many_sensors_with_hostile_names_is_one_card_in_budget(
        crowded: Room, connector: ConnectorStandIn) -> None:
    room = f"<at>Room</at> [x]({EVIL}) " + "r" * 300
    sensors = [f"rack-{n:05}-" + "s" * 200 for n in range(3000)] + [
        text for text in HOSTILE if "\n" not in text]
    at_ms = int(crowded.at(0).timestamp() * 1000)
    crowded.influx.write(crowded.database, [
        f"temperature,room={_tag(room)},sensor={_tag(sensor)} value={35.0 + n / 10000} {at_ms}"
        for n, sensor in enumerate(sensors)])
    await crowded.poll(1)
    await eventually(lambda: all(connector.cards(chat) for chat in crowded.chats), timeout=60)
    card = card_of(connector.cards(crowded.chats[0])[0])
    assert f"{len(sensors)} | Critical" in card_text(card)
    # `status` and `status <room>` in a personal chat list the room and its sensors
    teams = TeamsChannel(crowded.client, connector.url)
    await teams.ok("personal_bot_added")
    for command in ("status", f"status {room}"):
        await teams.ok("message_personal", text=command)
    answers = [card_text(card_of(r)) for r in connector.cards(PERSONAL)]
    assert any(f"and {len(sensors) - STATUS_LIMIT} more sensors" in text for text in answers)
    sent = messages(connector)
    assert_within_budget(sent)
    assert_inert(sent, {a["url"] for a in card["actions"] if a["type"] == "Action.OpenUrl"})


async def test_an_escalation_mentions_a_person_by_a_literal_name(
        escalating: TestClient, connector: ConnectorStandIn) -> None:
    """A Teams display name is shown literally in the one mention HeatWatch makes: it cannot
    close the `<at>` tag, add a mention of its own, a link or markup."""
    teams = await installed_in(escalating, connector)
    connector.members[USER2_ID] = Member(USER2_ID, HOSTILE_NAME, USER2_AAD)
    await teams.ok("groupchat_member_added")  # the bot learns the person's name
    await fired(escalating, connector, Severity.CRIT)
    assert await escalating.app[SERVICES].escalator.check(utcnow() + timedelta(minutes=10)) == 1
    await eventually(lambda: notes(connector, GROUP))
    [message] = [r.body for r in connector.sent(GROUP) if r.body.get("text")]
    tag = f"<at>{inert(HOSTILE_NAME)}</at>"
    assert message["entities"] == [{"type": "mention", "text": tag,
                                    "mentioned": {"id": USER2_ID, "name": inert(HOSTILE_NAME)}}]
    assert message["text"].startswith(tag + " Escalated:")
    rest = message["text"].removeprefix(tag)
    assert_inert([{"text": rest}], set())
    assert_within_budget(messages(connector))
