"""App-only access tokens from Microsoft Entra, without blocking the event loop.

botbuilder's own credentials use MSAL synchronously (a network call on the event loop) and
cannot be pointed at a sovereign or test authority without MSAL's instance discovery calling the
public cloud. HeatWatch fetches client-credentials tokens itself with aiohttp from the configured
authority, caches them until five minutes before they expire, and uses azure-identity for
managed identities.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from common.errors import HeatWatchError
from common.settings import AppType, Settings

log = logging.getLogger(__name__)
REFRESH_MARGIN_SECONDS = 300.0


class TokenError(HeatWatchError):
    """No token could be had. The message says why and what to fix; it never holds a secret."""


class TokenSource(Protocol):
    async def token(self, scope: str) -> str:
        """A bearer token for `scope` (a resource like https://api.botframework.com)."""
        ...

    def current(self, scope: str) -> str:
        """The last token fetched for `scope` ("" if none yet), without I/O."""
        ...

    async def close(self) -> None: ...


@dataclass
class _Cached:
    value: str
    refresh_at: float


def default_scope(resource: str) -> str:
    return resource if resource.endswith("/.default") else resource.rstrip("/") + "/.default"


class ClientSecretTokenSource:
    """OAuth 2.0 client credentials against `{authority}/{tenant}/oauth2/v2.0/token`."""

    def __init__(
        self,
        authority: str,
        tenant: str,
        client_id: str,
        client_secret: str,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._url = f"{authority.rstrip('/')}/{tenant}/oauth2/v2.0/token"
        self._client_id = client_id
        self._secret = client_secret
        self._session = session
        self._owns_session = session is None
        self._cache: dict[str, _Cached] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def token(self, scope: str) -> str:
        scope = default_scope(scope)
        cached = self._cache.get(scope)
        if cached and time.monotonic() < cached.refresh_at:
            return cached.value
        lock = self._locks.setdefault(scope, asyncio.Lock())
        async with lock:
            cached = self._cache.get(scope)
            if cached and time.monotonic() < cached.refresh_at:
                return cached.value
            fresh = await self._request(scope)
            self._cache[scope] = fresh
            return fresh.value

    def current(self, scope: str) -> str:
        cached = self._cache.get(default_scope(scope))
        return cached.value if cached else ""

    async def _request(self, scope: str) -> _Cached:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._secret,
            "scope": scope,
        }
        try:
            async with self._session.post(self._url, data=form) as response:
                body = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            raise TokenError(
                f"could not reach the Entra token endpoint {self._url}: {error.__class__.__name__}"
            ) from None
        if status != 200 or not isinstance(body, dict) or "access_token" not in body:
            code = body.get("error", "unknown_error") if isinstance(body, dict) else "unknown_error"
            description = body.get("error_description", "") if isinstance(body, dict) else ""
            raise TokenError(
                f"Entra refused a token for {scope} (HTTP {status}, {code}): "
                f"{description.splitlines()[0] if description else 'no description'}. Check "
                "MicrosoftAppId, MicrosoftAppPassword and MicrosoftAppTenantId."
            )
        lifetime = float(body.get("expires_in", 3600))
        return _Cached(
            value=str(body["access_token"]),
            refresh_at=time.monotonic() + max(lifetime - REFRESH_MARGIN_SECONDS, lifetime / 2),
        )

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None


class ManagedIdentityTokenSource:
    """A user-assigned managed identity through azure-identity (App Service, AKS, VMs)."""

    def __init__(self, client_id: str) -> None:
        from azure.identity.aio import ManagedIdentityCredential

        self._credential = ManagedIdentityCredential(client_id=client_id)
        self._last: dict[str, str] = {}

    def current(self, scope: str) -> str:
        return self._last.get(default_scope(scope), "")

    async def token(self, scope: str) -> str:
        try:
            access = await self._credential.get_token(default_scope(scope))
            self._last[default_scope(scope)] = access.token
        except Exception as error:  # azure-identity raises several unrelated types
            raise TokenError(
                f"the managed identity could not get a token for {scope}: "
                f"{error.__class__.__name__}. Check that the user-assigned identity whose client "
                "id is MicrosoftAppId is attached to this host."
            ) from None
        token: str = access.token
        return token

    async def close(self) -> None:
        await self._credential.close()


def token_source_for(settings: Settings) -> TokenSource | None:
    """The bot's identity as configured: none in anonymous mode, a managed identity, or a
    client secret."""
    if settings.anonymous:
        return None
    if settings.app_type is AppType.USER_ASSIGNED_MSI:
        return ManagedIdentityTokenSource(settings.app_id)
    return ClientSecretTokenSource(
        authority=settings.cloud.login_authority,
        tenant=settings.token_tenant,
        client_id=settings.app_id,
        client_secret=settings.app_password,
    )
