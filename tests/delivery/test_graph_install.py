"""Proactive installation through Microsoft Graph (msgraph-sdk against a Graph stand-in, tokens
from the Entra stand-in), and an alert reaching a person who never talked to the bot."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from functools import partial

import pytest
from aiohttp.test_utils import TestClient

from bots.references import personal_chat_reference
from common.tokens import ClientSecretTokenSource
from heatwatch.server import SERVICES
from notifier.alerts.events import AlertEvent, EventKind, Severity
from notifier.install.graph import PERMISSION, GraphError, GraphInstaller, graph_client
from storage.registry import ConversationRegistry
from tests.standins.connector import ConnectorStandIn
from tests.standins.graph import GraphStandIn
from tests.standins.identity import EntraStandIn
from tests.support.teams import APP_ID, APP_SECRET, TENANT, card_text
from tests.support.waiting import eventually, eventually_async

MANIFEST_ID = "3b1f2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
ADELE = "eddfa9d4-346e-4cce-a18f-fa6261ad776b"
ADELE_UPN = "adele@contoso.com"
SECRET = APP_SECRET


@pytest.fixture
def graph() -> Iterator[GraphStandIn]:
    stand_in = GraphStandIn(manifest_id=MANIFEST_ID, users={ADELE: ADELE_UPN}).start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
async def installer(graph: GraphStandIn, entra: EntraStandIn, client: TestClient,
                    connector: ConnectorStandIn) -> AsyncIterator[GraphInstaller]:
    tokens = ClientSecretTokenSource(entra.authority, TENANT, APP_ID, SECRET)
    yield GraphInstaller(
        graph_client(tokens, graph.url), ConversationRegistry(client.app[SERVICES].database),
        partial(personal_chat_reference, APP_ID), tenant_id=TENANT, manifest_id=MANIFEST_ID,
        default_service_url=connector.url, graph_base_url=graph.url)
    await tokens.close()


def requests_of(graph: GraphStandIn, method: str) -> list[tuple[str, str, object]]:
    return [r for r in graph.requests if r[0] == method]


async def test_not_installed_is_installed_and_its_chat_remembered(
    installer: GraphInstaller, graph: GraphStandIn, entra: EntraStandIn, client: TestClient,
    connector: ConnectorStandIn,
) -> None:
    result = await installer.ensure(ADELE_UPN)

    assert result.installed_now and result.reference_stored
    assert result.user_id == ADELE and result.chat_id == graph.chat_id(ADELE)
    [(_, path, body)] = requests_of(graph, "POST")
    assert path == f"/v1.0/users/{ADELE}/teamwork/installedApps"
    assert body["teamsApp@odata.bind"] == (
        f"{graph.url}/v1.0/appCatalogs/teamsApps/{graph.catalog_id}")
    listing = [p for m, p, _ in graph.requests if m == "GET" and "installedApps?" in p]
    assert listing and "$expand=teamsApp" in listing[0]
    assert f"$filter=teamsApp%2FexternalId%20eq%20%27{MANIFEST_ID}%27" in listing[0]
    assert entra.requests[0]["scope"] == f"{graph.url}/.default"

    stored = await ConversationRegistry(client.app[SERVICES].database).get_conversation(
        TENANT, graph.chat_id(ADELE))
    assert stored is not None and stored.user_aad_object_id == ADELE
    assert stored.reference["bot"]["id"] == f"28:{APP_ID}"
    assert stored.reference["serviceUrl"] == connector.url


async def test_already_installed_is_left_alone(installer: GraphInstaller,
                                               graph: GraphStandIn) -> None:
    graph.installed[ADELE] = "install-existing"
    result = await installer.ensure(ADELE)

    assert not result.installed_now and result.reference_stored
    assert requests_of(graph, "POST") == []
    again = await installer.ensure(ADELE)
    assert not again.reference_stored  # one entry per chat, already current


async def test_a_lost_reference_is_healed(installer: GraphInstaller, graph: GraphStandIn,
                                          client: TestClient) -> None:
    await installer.ensure(ADELE)
    registry = ConversationRegistry(client.app[SERVICES].database)
    await registry.forget_conversation(TENANT, graph.chat_id(ADELE))

    healed = await installer.ensure(ADELE)
    assert healed.reference_stored and not healed.installed_now
    assert await registry.get_conversation(TENANT, graph.chat_id(ADELE)) is not None


async def test_missing_permission_names_the_permission_to_grant(
    installer: GraphInstaller, graph: GraphStandIn
) -> None:
    graph.forbidden = True
    with pytest.raises(GraphError) as raised:
        await installer.ensure(ADELE)
    assert raised.value.status == 403
    assert PERMISSION in str(raised.value) and "admin consent" in str(raised.value)
    assert "webApplicationInfo.id" in str(raised.value)


async def test_throttling_is_retried_then_reported_and_unknown_users_are_clear(
    installer: GraphInstaller, graph: GraphStandIn
) -> None:
    graph.throttle_next = 1  # one 429: waited out (Retry-After) and retried
    assert (await installer.ensure(ADELE)).installed_now

    graph.throttle_next = 100  # persistent throttling: a clear error after the retries
    with pytest.raises(GraphError) as raised:
        await installer.ensure(ADELE)
    assert raised.value.status == 429 and "throttled" in str(raised.value)
    graph.throttle_next = 0

    with pytest.raises(GraphError) as raised:
        await installer.ensure("nobody@contoso.com")
    assert raised.value.status == 404 and "nobody@contoso.com" in str(raised.value)


async def test_app_missing_from_the_org_catalog(installer: GraphInstaller,
                                                graph: GraphStandIn) -> None:
    graph.manifest_id = "another-app"
    with pytest.raises(GraphError, match="publish the HeatWatch package"):
        await installer.ensure(ADELE)


async def test_an_alert_reaches_a_person_who_never_talked_to_the_bot(
    installer: GraphInstaller, graph: GraphStandIn, client: TestClient,
    connector: ConnectorStandIn,
) -> None:
    await installer.ensure(ADELE_UPN)  # Adele never opened HeatWatch

    event = AlertEvent(kind=EventKind.FIRED, rule="server-room-temperature",
                       alert_id=f"a{time.time_ns()}", at=datetime.now(UTC),
                       series={"room": "r1", "sensor": "s1"}, severity=Severity.CRIT,
                       value=34.0, threshold=32.0, unit="°C", since=datetime.now(UTC))
    await client.app[SERVICES].sink.publish([event])

    await eventually(lambda: connector.cards(graph.chat_id(ADELE)), what="the card")
    [card] = connector.cards(graph.chat_id(ADELE))
    assert card_text(card.body["attachments"][0]["content"]).startswith("CRITICAL")


async def test_configured_recipient_gets_alerts_without_ever_opening_the_bot(
    aiohttp_client, tmp_path, graph: GraphStandIn, entra: EntraStandIn,
) -> None:
    from heatwatch.server import create_app
    from tests.standins.connector import Fault
    from tests.standins.identity import OpenIdStandIn
    from tests.support.teams import TeamsChannel, authenticated_settings, load_activity

    openid = OpenIdStandIn().start()
    connector = ConnectorStandIn().start()
    try:
        settings = authenticated_settings(
            f"sqlite:///{tmp_path}/g.db", openid.metadata_url, entra.authority,
            GRAPH_BASE_URL=graph.url, TEAMS_SERVICE_URL=connector.url,
            TEAMS_APP_ID=MANIFEST_ID, ALERT_RECIPIENTS=ADELE_UPN, DELIVERY_BACKOFF_SECONDS="0.05")
        client = await aiohttp_client(create_app(settings))
        registry = ConversationRegistry(client.app[SERVICES].database)
        chat = graph.chat_id(ADELE)

        await eventually_async(lambda: registry.get_conversation(TENANT, chat),
                               what="the installation's chat registered")
        assert ADELE in graph.installed

        # The first send finds the bot gone (uninstalled meanwhile): re-install, then retry.
        graph.installed.pop(ADELE)
        connector.faults.append(Fault(403, "BotNotInConversationRoster", conversation_id=chat))
        event = AlertEvent(kind=EventKind.FIRED, rule="server-room-temperature",
                           alert_id=f"a{time.time_ns()}", at=datetime.now(UTC),
                           series={"room": "r1", "sensor": "s1"}, severity=Severity.CRIT,
                           value=34.0, threshold=32.0, unit="°C", since=datetime.now(UTC))
        await client.app[SERVICES].sink.publish([event])
        await eventually(lambda: connector.cards(chat), 20, "the card after re-installing")
        assert ADELE in graph.installed  # installed again
        [card] = connector.cards(chat)
        assert "api.botframework.com" in str(card.authorization)

        # Teams' conversationUpdate arrives later: one entry for the chat, one welcome.
        teams = TeamsChannel(client, connector.url,
                             token_for=lambda url: openid.token(APP_ID, url))
        added = load_activity("personal_bot_added", connector.url)
        added["conversation"]["id"] = chat
        added["membersAdded"][1]["aadObjectId"] = ADELE
        await teams.ok(added)
        await teams.ok(added)
        await teams.drained()  # the welcome is queued, then sent by the delivery workers
        assert [c.conversation_id for c in await registry.list_conversations()] == [chat]
        assert len([t for t in connector.texts(chat) if t.startswith("Hi, I'm")]) == 1
    finally:
        connector.stop()
        openid.stop()


async def test_admin_cli_runs_the_flow_once_and_says_what_it_did(
    tmp_path, monkeypatch: pytest.MonkeyPatch, graph: GraphStandIn, entra: EntraStandIn,
) -> None:
    from heatwatch.install import install

    for key, value in {"MicrosoftAppId": APP_ID, "MicrosoftAppPassword": SECRET,
                       "MicrosoftAppTenantId": TENANT, "TEAMS_APP_ID": MANIFEST_ID,
                       "GRAPH_BASE_URL": graph.url, "ENTRA_AUTHORITY_HOST": entra.authority,
                       "DATABASE_URL": f"sqlite:///{tmp_path}/cli.db"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)

    lines, ok = await install([ADELE_UPN, "nobody@contoso.com"])

    assert not ok
    assert lines[0] == (f"{ADELE_UPN}: installed the app; chat {graph.chat_id(ADELE)}; "
                        "stored a new reference")
    assert lines[1].startswith("nobody@contoso.com: FAILED: Graph found nothing for the user")


async def test_someone_a_schedule_names_later_is_installed_before_the_next_full_pass(
    installer: GraphInstaller, graph: GraphStandIn, client: TestClient,
) -> None:
    from notifier.install.reconcile import NEW_PEOPLE_SECONDS, Reconciler

    people: list[str] = []
    reconciler = Reconciler(installer, ConversationRegistry(client.app[SERVICES].database),
                            lambda: tuple(people), interval=3600.0)
    assert await reconciler.step() == NEW_PEOPLE_SECONDS  # the full pass: nobody yet
    people.append(ADELE)  # a rules reload or a Teams Shifts read names Adele
    assert await reconciler.step() == NEW_PEOPLE_SECONDS
    assert ADELE in graph.installed
    chat = await ConversationRegistry(client.app[SERVICES].database).get_conversation(
        TENANT, graph.chat_id(ADELE))
    assert chat is not None and chat.user_name == "adele"  # Graph's displayName: notes say it
    asked = len(graph.requests)
    await reconciler.step()  # known now: left to the hourly pass
    assert len(graph.requests) == asked


async def test_a_page_installs_its_person_and_a_refusal_is_not_asked_again_at_once(
    installer: GraphInstaller, graph: GraphStandIn, client: TestClient,
) -> None:
    from notifier.install.reconcile import Reconciler

    reconciler = Reconciler(installer, ConversationRegistry(client.app[SERVICES].database),
                            lambda: (), interval=3600.0)
    await reconciler.reach([ADELE, "nobody@contoso.com"])
    assert ADELE in graph.installed
    asked = len(graph.requests)
    await reconciler.reach(["nobody@contoso.com"])  # Graph said no a moment ago
    assert len(graph.requests) == asked
