"""Paging through the Teams activity feed: a critical incident's card in a person's chat comes
with an activity-feed notification (Microsoft Graph's sendActivityNotification, to the Graph
stand-in), the end replaces it (same chainId); throttling is waited out, a missing consent
refuses the page but never the card."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from heatwatch.server import SERVICES, create_app
from notifier.alerts.events import AlertEvent, EventKind, Severity
from notifier.delivery.feed import ACTIVITY_TYPE, chain_id
from storage.registry import ConversationRegistry
from tests.standins.connector import ConnectorStandIn
from tests.standins.graph import GraphStandIn
from tests.standins.identity import EntraStandIn, OpenIdStandIn
from tests.support.teams import APP_ID, TENANT, authenticated_settings
from tests.support.waiting import eventually

MANIFEST_ID = "3b1f2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
ADELE = "eddfa9d4-346e-4cce-a18f-fa6261ad776b"


@pytest.fixture
def graph() -> Iterator[GraphStandIn]:
    stand_in = GraphStandIn(manifest_id=MANIFEST_ID, users={ADELE: "adele@contoso.com"}).start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
async def paging(aiohttp_client: Any, tmp_path: Path, graph: GraphStandIn, entra: EntraStandIn,
                 connector: ConnectorStandIn) -> AsyncIterator[TestClient]:
    openid = OpenIdStandIn().start()
    settings = authenticated_settings(
        f"sqlite:///{tmp_path}/feed.db", openid.metadata_url, entra.authority,
        GRAPH_BASE_URL=graph.url, TEAMS_SERVICE_URL=connector.url, TEAMS_APP_ID=MANIFEST_ID,
        ALERT_RECIPIENTS=ADELE, DELIVERY_BACKOFF_SECONDS="0.05",
        RULES_FILE=str(Path(__file__).parents[2] / "rules.toml"))
    client = await aiohttp_client(create_app(settings))
    registry = ConversationRegistry(client.app[SERVICES].database)
    await eventually(lambda: ADELE in graph.installed)
    chat = graph.chat_id(ADELE)
    deadline = time.monotonic() + 10
    while await registry.get_conversation(TENANT, chat) is None:
        assert time.monotonic() < deadline
        await eventually(lambda: True)
    yield client
    openid.stop()


def critical(alert_id: str, kind: EventKind = EventKind.FIRED) -> AlertEvent:
    resolved = kind is EventKind.RESOLVED
    return AlertEvent(kind=kind, rule="server-room-temperature", alert_id=alert_id,
                      at=datetime.now(UTC), series={"room": "r1", "sensor": "s1"},
                      severity=None if resolved else Severity.CRIT,
                      value=26.0 if resolved else 34.0, threshold=None if resolved else 32.0,
                      unit="°C", since=datetime.now(UTC))


async def test_a_critical_page_reaches_the_feed_and_its_end_replaces_it(
    paging: TestClient, graph: GraphStandIn, connector: ConnectorStandIn
) -> None:
    alert_id = f"a{time.time_ns()}"
    graph.throttle_next = 1  # one 429 with Retry-After: waited out, then sent
    await paging.app[SERVICES].sink.publish([critical(alert_id)])
    await eventually(lambda: graph.notifications, timeout=20)
    [(user, body)] = graph.notifications
    assert user == ADELE
    assert body["activityType"] == ACTIVITY_TYPE and body["chainId"] == chain_id(alert_id)
    assert body["topic"] == {"source": "text", "value": "HeatWatch",
                             "webUrl": f"https://teams.microsoft.com/l/chat/0/0?users=28:{APP_ID}"}
    assert body["templateParameters"] == [
        {"name": "alert", "value": "server-room-temperature critical: room r1, sensor s1, 34 °C"}]
    assert body["previewText"]["content"].startswith("Critical: server-room-temperature")
    assert connector.cards(graph.chat_id(ADELE))  # the card came too

    await paging.app[SERVICES].sink.publish([critical(alert_id, EventKind.RESOLVED)])
    await eventually(lambda: len(graph.notifications) == 2)
    ended = graph.notifications[1][1]
    assert ended["chainId"] == chain_id(alert_id)
    assert ended["templateParameters"][0]["value"].startswith(
        "server-room-temperature resolved")


async def test_without_consent_the_page_is_refused_and_the_card_still_arrives(
    paging: TestClient, graph: GraphStandIn, connector: ConnectorStandIn
) -> None:
    graph.feed_forbidden = True
    alert_id = f"a{time.time_ns()}"
    await paging.app[SERVICES].sink.publish([critical(alert_id)])
    await eventually(lambda: connector.cards(graph.chat_id(ADELE)))

    async def feed_status() -> list[tuple[str, str]]:
        rows = await paging.app[SERVICES].database.fetch_all(
            "SELECT status, last_error FROM deliveries WHERE alert_id = ? AND "
            "operation = 'feed'", (alert_id,))
        return [(row["status"], row["last_error"] or "") for row in rows]

    deadline = time.monotonic() + 10
    while (await feed_status())[0][0] != "dead":
        assert time.monotonic() < deadline
        await eventually(lambda: True)
    [(status, error)] = await feed_status()
    assert "TeamsActivity.Send" in error and "admin consent" in error
    assert graph.notifications == []
