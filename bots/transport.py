"""An msrest transport on one shared aiohttp session, for the Bot Connector client.

botframework-connector's "async" pipeline sends with `requests` on the default thread pool
(6 threads on a 2-core machine), which caps proactive sends at about 6 per round trip; msrest's
own aiohttp sender drops headers and body. This sender does real asynchronous HTTP with
connection reuse; msrest still builds and parses every request.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from msrest.exceptions import ClientRequestError
from msrest.pipeline import AsyncHTTPSender, Request, Response, SansIOHTTPPolicy
from msrest.universal_http.aiohttp import AioHttpClientResponse


class SharedSession:
    """Creates the aiohttp session on first use (inside the running loop) and closes it."""

    def __init__(self, timeout: float = 30.0, connections: int = 256) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._connections),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class AiohttpSender(AsyncHTTPSender):
    def __init__(self, session: SharedSession) -> None:
        self._session = session

    async def __aenter__(self) -> AiohttpSender:
        return self

    async def __aexit__(self, *exc_details: Any) -> None:
        return None  # the shared session outlives any one client

    def build_context(self) -> None:
        return None

    async def send(self, request: Request, **config: Any) -> Response:
        http = request.http_request
        try:
            raw = await self._session.get().request(
                http.method, http.url, headers=dict(http.headers), data=http.data)
            response = AioHttpClientResponse(http, raw)
            await response.load_body()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            raise ClientRequestError(f"{error.__class__.__name__}: {error}") from error
        return Response(request, response)


class BearerPolicy(SansIOHTTPPolicy):
    """Adds `Authorization: Bearer <token>` from a synchronous token getter ("" = none)."""

    def token(self) -> str:
        return ""

    def on_request(self, request: Request, **kwargs: Any) -> None:
        token = self.token()
        if token:
            request.http_request.headers["Authorization"] = f"Bearer {token}"
