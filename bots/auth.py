"""Bot Framework authentication wired to HeatWatch's settings and token source.

Inbound: botbuilder validates the Bot Framework JWT against the cloud's OpenID metadata (the
URLs are settings, so sovereign clouds and the test stand-ins work). Outbound: connector calls
carry a token from HeatWatch's non-blocking `TokenSource`.
"""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication
from botframework.connector.auth import (
    AppCredentials,
    BotFrameworkAuthentication,
    JwtTokenExtractor,
    MicrosoftAppCredentials,
    ServiceClientCredentialsFactory,
)
from msrest.authentication import Authentication

from heatwatch.settings import Settings
from heatwatch.tokens import TokenSource

log = logging.getLogger(__name__)


class _FixedTokenCredentials(AppCredentials):
    """msrest signs each request synchronously; the token was fetched (async) just before."""

    def __init__(self, app_id: str, token: str, scope: str) -> None:
        super().__init__(app_id=app_id, oauth_scope=scope)
        self._token = token

    def get_access_token(self, force_refresh: bool = False) -> str:
        return self._token


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
            return MicrosoftAppCredentials.empty()
        if app_id != self._app_id:
            raise PermissionError("the activity is for another bot")
        token = await self._tokens.token(oauth_scope)
        return _FixedTokenCredentials(self._app_id, token, oauth_scope)


def build_authentication(
    settings: Settings, tokens: TokenSource | None
) -> BotFrameworkAuthentication:
    cloud = settings.cloud
    tenant = settings.tenant_id or "botframework.com"
    configuration = SimpleNamespace(
        APP_ID=settings.app_id,
        APP_TYPE=settings.app_type.value,
        APP_TENANTID=settings.tenant_id,
        TO_CHANNEL_FROM_BOT_LOGIN_URL=f"{cloud.login_authority}/{tenant}",
        TO_CHANNEL_FROM_BOT_OAUTH_SCOPE=cloud.connector_scope,
        TO_BOT_FROM_CHANNEL_TOKEN_ISSUER=cloud.token_issuer,
        TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=cloud.openid_metadata_url,
        TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL=cloud.emulator_openid_metadata_url,
        VALIDATE_AUTHORITY=True,
    )
    return ConfigurationBotFrameworkAuthentication(
        configuration,
        credentials_factory=TokenSourceCredentialFactory(settings.app_id, tokens),
    )


async def refresh_signing_keys(settings: Settings) -> None:
    """Fetch the channel's signing keys on a worker thread.

    botbuilder refreshes them with blocking `requests` inside the request path once a day;
    doing it here first, and twice a day, keeps that network call off the event loop.
    """
    for url in (settings.cloud.openid_metadata_url, settings.cloud.emulator_openid_metadata_url):
        metadata = JwtTokenExtractor.get_open_id_metadata(url)
        try:
            await asyncio.to_thread(lambda: asyncio.run(metadata._refresh()))  # noqa: SLF001
        except Exception as error:  # requests raises many types; a failure is retried later
            log.warning("Could not fetch Bot Framework signing keys from %s: %s", url,
                        error.__class__.__name__)
