"""With MicrosoftAppId set, nothing reaches the handler without a valid Bot Framework token;
outbound calls carry an Entra token; malformed requests get 4xx; secrets never reach logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from common.logs import RedactSecrets
from common.settings import Settings
from heatwatch.server import SERVICES, create_app
from storage.registry import ConversationRegistry
from tests.standins.connector import ConnectorStandIn
from tests.standins.identity import EntraStandIn, OpenIdStandIn
from tests.support.teams import (
    APP_ID,
    APP_SECRET,
    PERSONAL,
    TENANT,
    TeamsChannel,
    authenticated_settings,
    load_activity,
)

SECRET = APP_SECRET


@pytest.fixture
def secure_settings(tmp_path: Path, openid: OpenIdStandIn, entra: EntraStandIn) -> Settings:
    return authenticated_settings(f"sqlite:///{tmp_path}/secure.db", openid.metadata_url,
                                  entra.authority, LOG_LEVEL="DEBUG")


@pytest.fixture
async def secure_client(aiohttp_client, secure_settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(secure_settings))


@pytest.fixture
def secure_connector(entra: EntraStandIn) -> Iterator[ConnectorStandIn]:
    # The connector accepts only the token Entra issued for the Bot Framework scope.
    stand_in = ConnectorStandIn().start()
    yield stand_in
    stand_in.stop()


async def post_with(client: TestClient, activity: dict, authorization: str | None) -> int:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await client.post("/api/messages", json=activity, headers=headers)
    assert "Traceback" not in await response.text()
    return response.status


async def test_valid_channel_token_reaches_the_handler_and_replies_carry_an_entra_token(
    secure_client: TestClient, secure_connector: ConnectorStandIn, openid: OpenIdStandIn,
    entra: EntraStandIn,
) -> None:
    teams = TeamsChannel(secure_client, secure_connector.url,
                         token_for=lambda url: openid.token(APP_ID, url))
    await teams.ok("personal_bot_added")
    await teams.drained()  # the welcome is queued, then sent by the delivery workers

    registry: ConversationRegistry = secure_client.app[SERVICES].registry
    assert await registry.get_conversation(TENANT, PERSONAL) is not None
    [welcome] = secure_connector.sent(PERSONAL)
    assert welcome.authorization == f"Bearer {entra.issued[0]}"
    [token_request] = entra.requests
    assert token_request["tenant"] == TENANT  # single-tenant: the bot's own tenant
    assert token_request["scope"] == "https://api.botframework.com/.default"


@pytest.mark.parametrize(
    "case",
    ["missing", "not_bearer", "malformed", "expired", "wrong_audience", "wrong_issuer",
     "bad_signature", "unknown_key", "wrong_service_url", "none_algorithm"],
)
async def test_bad_tokens_get_401_and_never_reach_the_handler(
    case: str, secure_client: TestClient, secure_connector: ConnectorStandIn,
    openid: OpenIdStandIn,
) -> None:
    activity = load_activity("personal_bot_added", secure_connector.url)
    url = secure_connector.url
    header = {
        "missing": None,
        "not_bearer": "Basic " + openid.token(APP_ID, url),
        "malformed": "Bearer not.a.jwt",
        "expired": "Bearer " + openid.token(APP_ID, url, expires_in=-3600),
        "wrong_audience": "Bearer " + openid.token("00000000-0000-0000-0000-000000000000", url),
        "wrong_issuer": "Bearer " + openid.token(APP_ID, url, issuer="https://evil.example"),
        "bad_signature": "Bearer " + openid.token(APP_ID, url)[:-8] + "AAAAAAAA",
        "unknown_key": "Bearer " + openid.token(APP_ID, url, key=openid.other_key),
        "wrong_service_url": "Bearer " + openid.token(APP_ID, "https://attacker.example/"),
        "none_algorithm": "Bearer " + _unsigned_token(APP_ID, url),
    }[case]

    assert await post_with(secure_client, activity, header) == 401

    registry: ConversationRegistry = secure_client.app[SERVICES].registry
    assert await registry.list_conversations() == []
    assert secure_connector.received == []


def _unsigned_token(audience: str, service_url: str) -> str:
    import base64
    import json
    import time

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"iss": "https://api.botframework.com", "aud": audience, "serviceurl": service_url,
              "exp": int(time.time()) + 600}
    return part({"alg": "none", "kid": "heatwatch-test-key"}) + "." + part(claims) + "."


async def test_wrong_client_secret_is_a_clear_error_not_a_leak(
    aiohttp_client, tmp_path: Path, openid: OpenIdStandIn, secure_connector: ConnectorStandIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = EntraStandIn(APP_ID, "a-different-secret").start()
    try:
        settings = authenticated_settings(f"sqlite:///{tmp_path}/w.db", openid.metadata_url,
                                          wrong.authority)
        client = await aiohttp_client(create_app(settings))
        teams = TeamsChannel(client, secure_connector.url,
                             token_for=lambda url: openid.token(APP_ID, url))
        with caplog.at_level(logging.DEBUG):
            status, body = await teams.post("message_personal")
    finally:
        wrong.stop()
    assert status == 503 and body == {"error": {"code": "ServiceUnavailable",
                                                "message": "Try again later."}}
    assert "AADSTS7000215" in caplog.text and "MicrosoftAppPassword" in caplog.text


async def test_secrets_and_tokens_never_reach_the_logs(
    secure_client: TestClient, secure_connector: ConnectorStandIn, openid: OpenIdStandIn,
    entra: EntraStandIn, caplog: pytest.LogCaptureFixture,
) -> None:
    teams = TeamsChannel(secure_client, secure_connector.url,
                         token_for=lambda url: openid.token(APP_ID, url))
    with caplog.at_level(logging.DEBUG):
        await teams.ok("personal_bot_added")
        await teams.ok("message_personal")
        await post_with(secure_client, load_activity("message_personal", secure_connector.url),
                        "Bearer " + openid.token("someone-else", secure_connector.url))
    redact = RedactSecrets([SECRET])
    rendered = [redact.redact(r.getMessage()) for r in caplog.records]
    raw = [r.getMessage() for r in caplog.records]
    # Nothing HeatWatch logs needs redaction in the first place...
    assert raw == rendered
    # ...and neither the password nor any issued or received token appears.
    for line in raw:
        assert SECRET not in line
        for token in entra.issued:
            assert token not in line
        assert "eyJ" not in line


def test_redaction_filter_hides_passwords_bearer_tokens_and_jwts() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1,
                               "password=%s header=%s jwt=%s", (SECRET, "Bearer abc.def-ghi",
                               "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"), None)
    RedactSecrets([SECRET]).filter(record)
    assert record.getMessage() == "password=*** header=Bearer *** jwt=***"


# malformed requests --------------------------------------------------------------------------


async def test_body_that_is_not_json_gets_400(client: TestClient) -> None:
    response = await client.post("/api/messages", data=b"{not json",
                                 headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "BadRequest"


@pytest.mark.parametrize("body", [b"[]", b"42", b'{"text": "no type"}', b'{"type": ""}'])
async def test_json_that_is_not_an_activity_gets_400(client: TestClient, body: bytes) -> None:
    response = await client.post("/api/messages", data=body,
                                 headers={"Content-Type": "application/json"})
    assert response.status == 400


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
async def test_wrong_content_type_gets_415(client: TestClient, content_type: str) -> None:
    response = await client.post("/api/messages", data=b'{"type": "message"}',
                                 headers={"Content-Type": content_type})
    assert response.status == 415


async def test_body_over_256_kb_gets_413(client: TestClient, connector: ConnectorStandIn) -> None:
    activity = load_activity("message_personal", connector.url, text="x" * (256 * 1024))
    response = await client.post("/api/messages", json=activity)
    assert response.status == 413
    assert connector.received == []


async def test_a_chunked_body_over_256_kb_gets_413(client: TestClient) -> None:
    async def chunks():
        yield b'{"type": "message", "text": "'
        for _ in range(300):
            yield b"x" * 1024
        yield b'"}'

    response = await client.post("/api/messages", data=chunks(),
                                 headers={"Content-Type": "application/json"})
    assert response.status == 413


async def test_get_on_messages_is_405_and_unknown_path_404(client: TestClient) -> None:
    assert (await client.get("/api/messages")).status == 405
    assert (await client.get("/api/notify")).status == 404


async def test_health_and_readiness(client: TestClient) -> None:
    assert (await client.get("/healthz")).status == 200
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["checks"]["storage"] == "ok"


async def test_readiness_fails_when_storage_is_gone(client: TestClient) -> None:
    from heatwatch.server import SERVICES

    await client.app[SERVICES].database.close()
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["status"] == "not ready"
