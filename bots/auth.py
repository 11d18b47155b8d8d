"""Bot Framework authentication wired to HeatWatch's settings and token source.

Inbound: botbuilder validates the Bot Framework JWT against the cloud's OpenID metadata (the
URLs are settings, so sovereign clouds and the test stand-ins work). Outbound: connector calls
carry a token from HeatWatch's non-blocking `TokenSource`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from types import SimpleNamespace

import aiohttp
from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity
from botframework.connector import AsyncBfPipeline, BotFrameworkConnectorConfiguration
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AppCredentials,
    AuthenticateRequestResult,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    JwtTokenExtractor,
    ServiceClientCredentialsFactory,
    UserTokenClient,
)
from botframework.connector.skills import BotFrameworkClient
from msrest.authentication import Authentication

from bots.serializer import use_json_serializer
from bots.transport import AiohttpSender, BearerPolicy, SharedSession
from common.settings import Settings
from common.tokens import TokenSource

log = logging.getLogger(__name__)


class _LiveTokenCredentials(AppCredentials, BearerPolicy):
    """Signs each connector request with the token source's current token, which the
    connector factory refreshed (async) just before handing out the client."""

    def __init__(self, app_id: str, tokens: TokenSource | None, scope: str) -> None:
        super().__init__(app_id=app_id, oauth_scope=scope)
        self._tokens = tokens
        self._scope = scope

    def get_access_token(self, force_refresh: bool = False) -> str:
        return self._tokens.current(self._scope) if self._tokens is not None else ""

    def token(self) -> str:
        return self.get_access_token()


class TokenSourceCredentialFactory(ServiceClientCredentialsFactory):
    """Gives the connector credentials backed by a `TokenSource`; none in anonymous mode."""

    def __init__(self, app_id: str, tokens: TokenSource | None) -> None:
        self._app_id = app_id
        self._tokens = tokens

    async def is_valid_app_id(self, app_id: str) -> bool:
        return bool(self._app_id) and app_id == self._app_id

    async def is_authentication_disabled(self) -> bool:
        return not self._app_id

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> Authentication:
        if not self._app_id or self._tokens is None:
            return _LiveTokenCredentials("", None, oauth_scope)  # anonymous: no header
        if app_id != self._app_id:
            raise PermissionError("the activity is for another bot")
        await self._tokens.token(oauth_scope)
        return _LiveTokenCredentials(self._app_id, self._tokens, oauth_scope)


class CachingConnectorFactory(ConnectorFactory):
    """One ConnectorClient per (serviceUrl, scope), reused for every send, all on one aiohttp
    session (bots/transport.py).

    botbuilder builds a new client per turn, and msrest spends about 5 ms of CPU building each
    one's retry configuration; at hundreds of proactive sends a second that is the bottleneck.
    The token is refreshed here (async) before the client is handed out.
    """

    def __init__(self, app_id: str, scope: str, credentials: TokenSourceCredentialFactory,
                 tokens: TokenSource | None) -> None:
        self._app_id = app_id
        self._scope = scope
        self._credentials = credentials
        self._tokens = tokens
        self._clients: dict[tuple[str, str], ConnectorClient] = {}
        self._session = SharedSession()

    async def create(self, service_url: str, audience: str = None) -> ConnectorClient:  # type: ignore[assignment]
        scope = audience or self._scope
        if self._tokens is not None:
            await self._tokens.token(scope)
        key = (service_url, scope)
        client = self._clients.get(key)
        if client is None:
            credentials = await self._credentials.create_credentials(self._app_id, scope, "",
                                                                     True)
            configuration = BotFrameworkConnectorConfiguration(
                credentials, service_url, pipeline_type=AsyncBfPipeline,
                sender=AiohttpSender(self._session))
            client = ConnectorClient(None, custom_configuration=configuration)
            use_json_serializer(client)
            client.config.add_user_agent("HeatWatch")
            if len(self._clients) >= 256:  # serviceUrls are few; never grow without bound
                self._clients.pop(next(iter(self._clients)))
            self._clients[key] = client
        return client

    async def close(self) -> None:
        self._clients = {}
        await self._session.close()


class HeatWatchAuthentication(BotFrameworkAuthentication):
    """botbuilder's configuration-driven authentication, with a shared connector factory and
    user-token client (HeatWatch has no user sign-in, so one per app is enough)."""

    def __init__(self, inner: BotFrameworkAuthentication, connectors: CachingConnectorFactory,
                 scope: str) -> None:
        self._inner = inner
        self.connectors = connectors
        self._scope = scope
        self._user_tokens: dict[str, UserTokenClient] = {}

    async def authenticate_request(self, activity: Activity,
                                   auth_header: str) -> AuthenticateRequestResult:
        result = await self._inner.authenticate_request(activity, auth_header)
        result.connector_factory = self.connectors
        return result

    async def authenticate_streaming_request(self, auth_header: str,
                                             channel_id_header: str) -> AuthenticateRequestResult:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self.connectors

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        key = claims_identity.get_claim_value("aud") or ""
        if key not in self._user_tokens:
            self._user_tokens[key] = await self._inner.create_user_token_client(claims_identity)
        return self._user_tokens[key]

    def create_bot_framework_client(self) -> BotFrameworkClient:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return self._scope

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)


def build_authentication(
    settings: Settings, tokens: TokenSource | None
) -> HeatWatchAuthentication:
    cloud = settings.cloud
    configuration = SimpleNamespace(
        APP_ID=settings.app_id,
        APP_TYPE=settings.app_type.value,
        APP_TENANTID=settings.tenant_id,
        TO_CHANNEL_FROM_BOT_LOGIN_URL=f"{cloud.login_authority}/{settings.token_tenant}",
        TO_CHANNEL_FROM_BOT_OAUTH_SCOPE=cloud.connector_scope,
        TO_BOT_FROM_CHANNEL_TOKEN_ISSUER=cloud.token_issuer,
        TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=cloud.openid_metadata_url,
        TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL=cloud.emulator_openid_metadata_url,
        VALIDATE_AUTHORITY=True,
    )
    credentials = TokenSourceCredentialFactory(settings.app_id, tokens)
    inner = ConfigurationBotFrameworkAuthentication(configuration,
                                                    credentials_factory=credentials)
    connectors = CachingConnectorFactory(settings.app_id, cloud.connector_scope, credentials,
                                         tokens)
    return HeatWatchAuthentication(inner, connectors, cloud.connector_scope)


async def refresh_signing_keys(settings: Settings, session: aiohttp.ClientSession,
                               timeout: float = 15.0) -> None:
    """Fetch the channel's signing keys into botbuilder's key cache, asynchronously.

    botbuilder refreshes them itself with blocking `requests` calls that have no timeout, on
    the event loop, once a day. Doing it here first, and twice a day, keeps that off the request
    path; a stalled endpoint is abandoned after `timeout` instead of hanging a thread forever.
    """
    for url in (settings.cloud.openid_metadata_url, settings.cloud.emulator_openid_metadata_url):
        metadata = JwtTokenExtractor.get_open_id_metadata(url)
        try:
            async with asyncio.timeout(timeout):
                async with session.get(url) as response:
                    response.raise_for_status()
                    jwks_uri = (await response.json(content_type=None))["jwks_uri"]
                async with session.get(jwks_uri) as response:
                    response.raise_for_status()
                    keys = (await response.json(content_type=None))["keys"]
        except (aiohttp.ClientError, TimeoutError, KeyError, TypeError, ValueError) as error:
            log.warning("Could not fetch Bot Framework signing keys from %s: %s", url,
                        error.__class__.__name__)
            continue
        metadata.keys = keys
        metadata.last_updated = datetime.now()  # botbuilder compares naive local times
