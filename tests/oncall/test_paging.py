"""Paging inside Teams end to end (issue #28's "done when"): a rule with `targets =
["oncall:dc"]` and a three-step policy pages the person on call (chat card and activity-feed
notification), then the secondary, then the team's channel, each step once, across a restart,
until an acknowledgement stops it; the card says who is on call and who each step paged, the
same as `history`. The schedules' people are installed through Microsoft Graph at start, and a
person a schedule names later is installed before they are paged (bot with its identity;
connector, Graph, Entra and OpenID stand-ins; real endpoint and database)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from common.clock import utcnow
from heatwatch.server import SERVICES, create_app
from notifier.alerts.events import AlertEvent, EventKind, Severity
from notifier.delivery.feed import chain_id
from storage.registry import ConversationRegistry
from tests.standins.connector import ConnectorStandIn
from tests.standins.graph import GraphStandIn
from tests.standins.identity import EntraStandIn, OpenIdStandIn
from tests.support.delivery import card_of
from tests.support.teams import APP_ID, CHANNEL, TEAM, TENANT, TeamsChannel, authenticated_settings
from tests.support.waiting import eventually, eventually_async, outbox_drained

MANIFEST_ID = "3b1f2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
ADELE = "eddfa9d4-346e-4cce-a18f-fa6261ad776b"
LEE = "0b6f4a52-2c1d-4f3e-9a8b-7c6d5e4f3a2b"
NESTOR = "5a1c9e3d-7b2f-4d6a-8e0c-1f2a3b4c5d6e"

SCHEDULE_TABLES = f"""
[[schedule]]
name = "dc"
people = ["{ADELE}"]
names = {{ "{ADELE}" = "Adele Vance" }}
rotation = "daily"

[[schedule]]
name = "dc-secondary"
people = ["{LEE}"]
names = {{ "{LEE}" = "Lee Gu" }}
"""
RULES = SCHEDULE_TABLES + f"""
[[escalation]]
name = "dc-critical"
steps = [
  {{ after = "5m", targets = ["oncall:dc"] }},
  {{ after = "15m", targets = ["oncall:dc-secondary"] }},
  {{ after = "30m", targets = ["team:{TEAM}"] }},
]
repeat = "30m"

[[rule]]
name = "server-room-temperature"
measurement = "temperature"
warn_above = 27.0
crit_above = 32.0
targets = ["oncall:dc"]
escalation = "dc-critical"
"""


@pytest.fixture
def graph() -> Iterator[GraphStandIn]:
    stand_in = GraphStandIn(manifest_id=MANIFEST_ID, users={
        ADELE: "adele@contoso.com", LEE: "lee@contoso.com", NESTOR: "nestor@contoso.com"}
    ).start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def openid_stand_in() -> Iterator[OpenIdStandIn]:
    stand_in = OpenIdStandIn().start()
    yield stand_in
    stand_in.stop()


class Paging:
    """Starts HeatWatch (again, on the same database) with its identity and the rules."""

    def __init__(self, aiohttp_client: Any, tmp_path: Path, database_url: str,
                 graph: GraphStandIn, entra: EntraStandIn, openid: OpenIdStandIn,
                 connector: ConnectorStandIn) -> None:
        self.rules = tmp_path / "rules.toml"
        self.rules.write_text(RULES)
        self._make = aiohttp_client
        self._settings = authenticated_settings(
            database_url, openid.metadata_url, entra.authority,
            GRAPH_BASE_URL=graph.url, TEAMS_SERVICE_URL=connector.url, TEAMS_APP_ID=MANIFEST_ID,
            DELIVERY_BACKOFF_SECONDS="0.05", RULES_FILE=str(self.rules))
        self.openid = openid
        self.connector = connector

    async def start(self) -> TestClient:
        client: TestClient = await self._make(create_app(self._settings))
        return client

    def teams(self, client: TestClient) -> TeamsChannel:
        return TeamsChannel(client, self.connector.url,
                            token_for=lambda url: self.openid.token(APP_ID, url))


@pytest.fixture
def paging(aiohttp_client: Any, tmp_path: Path, database_url: str, graph: GraphStandIn,
           entra: EntraStandIn, openid_stand_in: OpenIdStandIn,
           connector: ConnectorStandIn) -> Paging:
    """On SQLite and on PostgreSQL (what one replica wrote, the next start reads)."""
    return Paging(aiohttp_client, tmp_path, database_url, graph, entra, openid_stand_in,
                  connector)


def critical(alert_id: str) -> AlertEvent:
    return AlertEvent(kind=EventKind.FIRED, rule="server-room-temperature", alert_id=alert_id,
                      at=datetime.now(UTC), series={"room": "r1", "sensor": "s1"},
                      severity=Severity.CRIT, value=34.0, threshold=32.0, unit="°C",
                      since=datetime.now(UTC))


async def chat_of(client: TestClient, graph: GraphStandIn, person: str) -> str:
    """The person's chat with the bot, once Graph installed it and HeatWatch stored it."""
    registry = ConversationRegistry(client.app[SERVICES].database)
    chat = await eventually(lambda: person in graph.installed and graph.chat_id(person), 20,
                            f"HeatWatch installed for {person}")
    await eventually_async(lambda: registry.get_conversation(TENANT, chat), 20,
                           f"the chat of {person} stored")
    return str(chat)


def latest_card(connector: ConnectorStandIn, chat: str) -> dict[str, str]:
    """The facts of the card as the chat shows it now (its last post or update)."""
    sent = [r for r in connector.received if r.conversation_id == chat and r.body.get(
        "attachments") and (r.method, r.status) in (("POST", 201), ("PUT", 200))]
    return {f["title"]: f["value"] for block in card_of(sent[-1])["body"]
            if block["type"] == "FactSet" for f in block["facts"]}


def feed_to(graph: GraphStandIn, person: str) -> list[dict[str, Any]]:
    return [body for user, body in graph.notifications if user == person]


async def test_three_steps_page_on_call_then_secondary_then_the_channel_once_each_across_a_restart(
    paging: Paging, graph: GraphStandIn, connector: ConnectorStandIn
) -> None:
    first = await paging.start()
    adele, lee = await chat_of(first, graph, ADELE), await chat_of(first, graph, LEE)
    assert not connector.sent(adele)  # installed by the schedules, nothing sent yet
    await paging.teams(first).ok("team_bot_added")
    await outbox_drained(first.app)
    connector.clear()

    alert_id = f"a{utcnow().timestamp():.6f}".replace(".", "")
    await first.app[SERVICES].sink.publish([critical(alert_id)])
    # The person on call: the card and an activity-feed notification, at once.
    await eventually(lambda: connector.cards(adele) and feed_to(graph, ADELE), 20)
    assert not connector.cards(lee) and not connector.cards(CHANNEL)
    card = latest_card(connector, adele)
    assert card["Paged, when critical"].startswith("adele at ")  # the person on call
    assert card["On call"].startswith("Adele Vance (dc), Lee Gu (dc-secondary) at {{TIME(")
    assert card["Next, step 1"].startswith("Adele Vance (on call in dc) at ")
    now = utcnow()

    escalator = first.app[SERVICES].escalator
    assert await escalator.check(now + timedelta(minutes=4)) == 0
    assert await escalator.check(now + timedelta(minutes=6)) == 1  # step 1: Adele again
    await eventually(lambda: len(feed_to(graph, ADELE)) == 2, 20)
    await eventually(lambda: "Paged, step 1" in latest_card(connector, adele), 20)
    assert len(connector.cards(adele)) == 1  # updated in place, not posted again
    assert latest_card(connector, adele)["Paged, step 1"].startswith("adele at ")
    await outbox_drained(first.app)
    await first.close()

    second = await paging.start()  # a restart: nothing is taken twice
    escalator = second.app[SERVICES].escalator
    assert await escalator.check(now + timedelta(minutes=7)) == 0
    assert await escalator.check(now + timedelta(minutes=16)) == 1  # step 2: the secondary
    await eventually(lambda: connector.cards(lee) and feed_to(graph, LEE), 20)
    assert await escalator.check(now + timedelta(minutes=31)) == 1  # step 3: the channel
    await eventually(lambda: connector.cards(CHANNEL), 20)
    assert await escalator.check(now + timedelta(minutes=50)) == 0
    await outbox_drained(second.app)
    card = latest_card(connector, lee)
    assert card["Paged, step 2"].startswith("lee at ")
    assert card["Paged, step 3"].startswith("Datacenter Ops › ")
    assert card["Next, step 3 again"].startswith("a team's alert channel at ")  # at 60 min

    # Adele acknowledges in her chat: no more pages (the repetitions stop); every card says so.
    teams = paging.teams(second)
    adele_says = {"conversation": {"conversationType": "personal", "tenantId": TENANT,
                                   "id": adele},
                  "from": {"id": "29:adele", "aadObjectId": ADELE, "name": "Adele Vance"}}
    await teams.ok("message_personal", text=f"ack {alert_id[:8]}", **adele_says)
    assert await escalator.check(now + timedelta(hours=3)) == 0
    await outbox_drained(second.app)
    for chat in (adele, lee, CHANNEL):
        stopped = await eventually(lambda chat=chat: latest_card(connector, chat).get(
            "Escalation"), 20, f"the card in {chat} updated")
        assert stopped == "stopped by the acknowledgement"
    assert [len(feed_to(graph, person)) for person in (ADELE, LEE)] == [2, 1]
    assert {body["chainId"] for _, body in graph.notifications} == {chain_id(alert_id)}
    assert [len(connector.cards(chat)) for chat in (adele, lee, CHANNEL)] == [1, 1, 1]

    # `history` says the same steps, people and moments as the card.
    await teams.ok("message_personal", text=f"history {alert_id[:8]}", **adele_says)
    await outbox_drained(second.app)
    [timeline] = [t for t in connector.texts(adele) if t.startswith("Timeline of")]
    pages = re.findall(r"\*\*(?:paged\*\*: the critical card|escalated\*\*: step (\d) of "
                       r"dc-critical: nobody acknowledged for [^;]+); told: ([^\n]+)", timeline)
    card = latest_card(connector, adele)
    assert [(f"Paged, step {n}" if n else "Paged, when critical", told)
            for n, told in pages] == [(title, value.split(" at {{")[0])
                                      for title, value in card.items()
                                      if title.startswith("Paged, ")]
    assert [n or "critical card" for n, _ in pages] == ["critical card", "1", "2", "3"]

    # The end: the card keeps who was paged; who is on call no longer matters there.
    ended = AlertEvent(kind=EventKind.RESOLVED, rule="server-room-temperature",
                       alert_id=alert_id, at=datetime.now(UTC),
                       series={"room": "r1", "sensor": "s1"}, value=26.0, unit="°C")
    await second.app[SERVICES].sink.publish([ended])
    await outbox_drained(second.app)
    card = latest_card(connector, adele)
    assert "On call" not in card and "Paged, step 3" in card and "Ended" in card


async def test_a_person_a_schedule_names_later_is_installed_and_paged_at_once(
    paging: Paging, graph: GraphStandIn, connector: ConnectorStandIn
) -> None:
    client = await paging.start()
    await chat_of(client, graph, ADELE)
    assert NESTOR not in graph.installed
    # A rules reload puts Nestor on call (an override from now): the hourly pass is far away,
    # and the alert comes at once; he is installed before the page chooses whom to tell.
    start, end = utcnow() - timedelta(minutes=1), utcnow() + timedelta(hours=1)
    paging.rules.write_text(RULES.replace(
        'rotation = "daily"',
        f'rotation = "daily"\noverrides = [{{ person = "{NESTOR}", from = "{start.isoformat()}",'
        f' to = "{end.isoformat()}" }}]', 1))
    reloader = client.app[SERVICES].reloader
    assert reloader is not None
    reloader.check("the test", force=True)  # the rules are the same: False
    assert NESTOR in client.app[SERVICES].rules.schedules.people()
    alert_id = f"n{utcnow().timestamp():.6f}".replace(".", "")
    await client.app[SERVICES].sink.publish([critical(alert_id)])
    nestor = await chat_of(client, graph, NESTOR)
    await eventually(lambda: connector.cards(nestor) and feed_to(graph, NESTOR), 20)
    rows = await client.app[SERVICES].database.fetch_all(
        "SELECT DISTINCT conversation_id FROM deliveries WHERE alert_id = ? AND operation = ?",
        (alert_id, "card"))
    assert [row["conversation_id"] for row in rows] == [nestor]  # only the person on call


async def test_someone_on_shift_in_teams_shifts_is_installed_without_waiting_an_hour(
    paging: Paging, graph: GraphStandIn
) -> None:
    start = utcnow().replace(microsecond=0) - timedelta(hours=1)
    graph.shifts[TEAM] = [{
        "id": "SHFT_nestor", "userId": NESTOR, "schedulingGroupId": "TAG_on_call",
        "sharedShift": {"startDateTime": f"{start:%Y-%m-%dT%H:%M:%SZ}",
                        "endDateTime": f"{start + timedelta(hours=8):%Y-%m-%dT%H:%M:%SZ}",
                        "displayName": "On call", "theme": "blue"}}]
    paging.rules.write_text(RULES + f'\n[[schedule]]\nname = "shifts"\nshifts = "{TEAM}"\n'
                                    f'acts_as = "{ADELE}"\n')
    client = await paging.start()
    # The full pass at start may run before the first Shifts read; the next quick pass
    # (NEW_PEOPLE_SECONDS) installs whoever a read named.
    await chat_of(client, graph, NESTOR)
    assert client.app[SERVICES].rules.schedules.person("shifts", utcnow()) == NESTOR
