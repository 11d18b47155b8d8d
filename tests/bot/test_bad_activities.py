"""Bad activities never poison the registry, a welcome is never lost, and no fault in a turn is
the caller's problem (issue #11). Through the real endpoint, a real database and the Bot
Connector stand-in."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from common.clock import utcnow
from common.settings import load_settings
from heatwatch.server import SERVICES, create_app
from notifier.chat.commands import HELP
from notifier.chat.welcome import WELCOME
from storage.outbox import DeliveryStatus, Outbox
from storage.preferences import Preferences
from storage.registry import ConversationRegistry
from tests.standins.connector import ConnectorStandIn, Fault
from tests.standins.identity import EntraStandIn, OpenIdStandIn
from tests.support.teams import (
    APP_ID,
    PERSONAL,
    TENANT,
    TeamsChannel,
    authenticated_settings,
    load_activity,
)


def without(activity: dict[str, Any], path: str) -> dict[str, Any]:
    changed = copy.deepcopy(activity)
    *parents, last = path.split(".")
    node = changed
    for name in parents:
        node = node[name]
    del node[last]
    return changed


def with_value(activity: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(activity)
    *parents, last = path.split(".")
    node = changed
    for name in parents:
        node = node[name]
    node[last] = value
    return changed


MALFORMED = {
    "no conversation": (lambda a: without(a, "conversation"), "no conversation.id"),
    "no conversation id": (lambda a: without(a, "conversation.id"), "no conversation.id"),
    "empty conversation id": (lambda a: with_value(a, "conversation.id", ""),
                              "no conversation.id"),
    "conversation a string": (lambda a: with_value(a, "conversation", PERSONAL),
                              "conversation must be an object"),
    "no serviceUrl": (lambda a: without(a, "serviceUrl"), "no serviceUrl"),
    "relative serviceUrl": (lambda a: with_value(a, "serviceUrl", "/_connector"),
                            "not an absolute http(s) URL"),
    "ftp serviceUrl": (lambda a: with_value(a, "serviceUrl", "ftp://127.0.0.1/x"),
                       "not an absolute http(s) URL"),
    "serviceUrl a number": (lambda a: with_value(a, "serviceUrl", 42), "no serviceUrl"),
    "no type": (lambda a: without(a, "type"), "no type"),
    "type a number": (lambda a: with_value(a, "type", 7), "no type"),
    "no channelId": (lambda a: without(a, "channelId"), "no channelId"),
    "from a string": (lambda a: with_value(a, "from", "someone"), "from must be an object"),
    "membersAdded an object": (lambda a: with_value(a, "membersAdded", {"id": "x"}),
                               "membersAdded must be a list of objects"),
    "id a number": (lambda a: with_value(a, "id", 12), "id must be a string"),
    "only a thread suffix as conversation id": (
        lambda a: with_value(a, "conversation.id", ";messageid=1"), "no conversation.id"),
    "mention that is not an object": (
        lambda a: with_value(a, "entities", [{"type": "mention", "mentioned": "x"}]),
        "entities[].mentioned must be an object"),
    "channelData.team a string": (lambda a: with_value(a, "channelData", {"team": "x"}),
                                  "channelData.team must be an object"),
    "channelData.tenant.id a number": (
        lambda a: with_value(a, "channelData", {"tenant": {"id": 5}}),
        "channelData.tenant.id must be a string"),
    "member id a number": (lambda a: with_value(a, "membersAdded", [{"id": 3}]),
                           "membersAdded[].id must be a string"),
    "from.aadObjectId an object": (lambda a: with_value(a, "from", {"id": "29:x",
                                                                    "aadObjectId": {}}),
                                   "from.aadObjectId must be a string"),
    # anonymous local mode talks to loopback connectors only
    "foreign serviceUrl": (lambda a: with_value(a, "serviceUrl",
                                                "https://smba.trafficmanager.net/teams/"),
                           "loopback"),
    "non-resolving serviceUrl": (lambda a: with_value(a, "serviceUrl",
                                                      "http://no-such-host.invalid/"),
                                 "loopback"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_a_malformed_activity_gets_400_and_stores_and_sends_nothing(
    case: str, teams: TeamsChannel, registry: ConversationRegistry,
    connector: ConnectorStandIn, caplog: pytest.LogCaptureFixture,
) -> None:
    change, message = MALFORMED[case]
    for name in ("personal_bot_added", "message_personal"):
        activity = change(load_activity(name, connector.url))
        status, body = await teams.post(activity)

        assert status == 400, (name, body)
        assert body["error"]["code"] == "BadRequest"
        assert message in body["error"]["message"]
    assert await registry.list_conversations() == []
    await teams.drained()
    assert connector.arrivals == 0
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_foreign_connector_host_gets_403_with_an_app_id(
    aiohttp_client: Any, tmp_path: Path, openid: OpenIdStandIn, entra: EntraStandIn,
    connector: ConnectorStandIn, caplog: pytest.LogCaptureFixture,
) -> None:
    """A validly signed token for a host that is no Teams connector (the token's serviceurl
    claim matches the activity) is refused all the same: defence in depth."""
    settings = authenticated_settings(f"sqlite:///{tmp_path}/a.db", openid.metadata_url,
                                      entra.authority)
    client: TestClient = await aiohttp_client(create_app(settings))
    teams = TeamsChannel(client, "https://connector.example.net/",
                         token_for=lambda url: openid.token(APP_ID, url))
    with caplog.at_level(logging.WARNING):
        status, body = await teams.post("personal_bot_added")

    assert status == 403 and body["error"]["code"] == "Forbidden"
    assert await client.app[SERVICES].registry.list_conversations() == []
    assert [r.getMessage() for r in caplog.records
            if "connector.example.net" in r.getMessage()] != []

    # The loopback connector stand-in passes the check (stand-ins and local tools).
    teams = TeamsChannel(client, connector.url,
                         token_for=lambda url: openid.token(APP_ID, url))
    await teams.ok("personal_bot_added")
    assert await client.app[SERVICES].registry.get_conversation(TENANT, PERSONAL) is not None


async def test_the_welcome_survives_a_connector_outage_exactly_once(
    teams: TeamsChannel, registry: ConversationRegistry, connector: ConnectorStandIn,
) -> None:
    connector.faults.append(Fault(status=0, times=2))  # connection dropped twice
    connector.faults.append(Fault(status=503, code="ServiceUnavailable", times=1))
    install = load_activity("install_add_personal", connector.url)

    assert (await teams.post(install))[0] == 200
    assert (await teams.post(install))[0] == 200  # Teams' re-send: same id
    await teams.ok("personal_bot_added")  # the conversationUpdate that follows

    stored = await registry.get_conversation(TENANT, PERSONAL)
    assert stored is not None
    await teams.drained(timeout=30)
    assert connector.texts(PERSONAL) == [WELCOME]
    assert connector.arrivals == 4  # two dropped, one 503, then accepted


async def test_a_command_reply_the_connector_refuses_is_sent_later_and_the_turn_is_2xx(
    teams: TeamsChannel, connector: ConnectorStandIn, caplog: pytest.LogCaptureFixture,
) -> None:
    await teams.ok("personal_bot_added")
    await teams.drained()
    connector.faults.append(Fault(status=503, code="ServiceUnavailable", times=2))

    status, _ = await teams.post("message_personal", text="help")

    assert status == 200
    await teams.drained(timeout=30)
    assert connector.texts(PERSONAL) == [WELCOME, HELP]
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_gateway_error_page_instead_of_a_connector_answer_is_retried(
    teams: TeamsChannel, connector: ConnectorStandIn, caplog: pytest.LogCaptureFixture,
) -> None:
    """A 502 HTML page (a proxy in front of the connector), not a Bot Framework error body:
    the welcome and a command's reply are retried like any outage, the turn is 2xx, and no
    traceback reaches the log."""
    connector.faults.append(Fault(status=502, html="<html><h1>502 Bad Gateway</h1></html>",
                                  times=3))
    assert (await teams.post("personal_bot_added"))[0] == 200
    assert (await teams.post("message_personal", text="help"))[0] == 200

    await teams.drained(timeout=30)
    assert connector.texts(PERSONAL) == [WELCOME, HELP]
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_connector_that_refuses_connections_is_not_a_500(
    teams: TeamsChannel, registry: ConversationRegistry, caplog: pytest.LogCaptureFixture,
) -> None:
    """A loopback serviceUrl where nothing listens: the install and `help` are stored and
    answered 200; the welcome waits in the outbox for the connector."""
    closed = "http://127.0.0.1:9/"  # the discard port: nothing listens there
    assert (await teams.post(load_activity("install_add_personal", closed)))[0] == 200
    assert (await teams.post(load_activity("message_personal", closed, text="help")))[0] == 200

    stored = await registry.get_conversation(TENANT, PERSONAL)
    assert stored is not None and stored.reference["serviceUrl"] == closed
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_re_sent_activity_is_not_applied_twice(
    teams: TeamsChannel, connector: ConnectorStandIn,
) -> None:
    await teams.ok("personal_bot_added")
    await teams.drained()  # the welcome first
    mute = load_activity("message_personal", connector.url, text="mute 1h")
    unmute = load_activity("message_personal", connector.url, text="unmute")

    await teams.ok(mute)
    await teams.ok(unmute)
    await teams.ok(mute)  # Teams re-sends the first one: it must not mute again

    await teams.drained()
    [welcome, muted, unmuted] = connector.texts(PERSONAL)  # no third answer
    assert welcome == WELCOME
    assert muted.startswith("Muted here until") and unmuted.startswith("Unmuted")
    assert await Preferences(teams.client.app[SERVICES].database).muted(utcnow()) == {}


async def retrying_app(aiohttp_client: Any, database_url: str, connector: ConnectorStandIn,
                       **env: str) -> TeamsChannel:
    """The app with quick retries and a small attempt budget (3)."""
    client = await aiohttp_client(create_app(load_settings(environ={
        "DATABASE_URL": database_url, "MONITORING_ENABLED": "false",
        "DELIVERY_BACKOFF_SECONDS": "0.05", "DELIVERY_MAX_ATTEMPTS": "3", **env},
        env_file=None)))
    return TeamsChannel(client, connector.url)


async def test_an_outage_longer_than_the_attempt_budget_still_loses_no_welcome(
    aiohttp_client: Any, database_url: str, connector: ConnectorStandIn,
) -> None:
    """Attempts alone never end a delivery: it is given up only once it has also waited
    DELIVERY_GIVE_UP_AFTER_SECONDS (a day by default)."""
    teams = await retrying_app(aiohttp_client, database_url, connector)
    connector.faults.append(Fault(status=503, code="ServiceUnavailable", times=6))
    await teams.ok("personal_bot_added")
    await teams.drained(timeout=30)
    assert connector.texts(PERSONAL) == [WELCOME]
    assert connector.arrivals == 7  # six calls refused (more than 3 of them the welcome)
    assert await Outbox(teams.client.app[SERVICES].database).list(DeliveryStatus.DEAD) == []


async def test_a_welcome_given_up_is_sent_with_the_conversations_next_activity_once(
    aiohttp_client: Any, database_url: str, connector: ConnectorStandIn,
) -> None:
    teams = await retrying_app(aiohttp_client, database_url, connector,
                               DELIVERY_GIVE_UP_AFTER_SECONDS="0")
    connector.faults.append(Fault(status=503, code="ServiceUnavailable", times=1000))
    await teams.ok("personal_bot_added")
    await teams.drained(timeout=30)
    connector.faults.clear()  # the connector is back
    [dead] = await Outbox(teams.client.app[SERVICES].database).list(DeliveryStatus.DEAD)
    assert "gave up after 3 attempts" in str(dead.last_error)
    assert connector.texts(PERSONAL) == []

    await teams.ok("message_personal", text="help")
    await teams.ok("message_personal", text="help", id="second-help")
    await teams.drained(timeout=30)
    texts = connector.texts(PERSONAL)
    assert texts.count(WELCOME) == 1 and texts.count(HELP) == 2
