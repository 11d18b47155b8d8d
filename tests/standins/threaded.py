"""Run an aiohttp app on 127.0.0.1:0 in its own thread and event loop.

Stand-ins live on their own loop because botbuilder fetches signing keys with blocking
`requests`: a stand-in on the test's loop could never answer it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Self, TypeVar

from aiohttp import web

T = TypeVar("T")


class ThreadedServer:
    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, factory: Callable[[], Coroutine[Any, Any, T]], timeout: float = 10) -> T:
        return asyncio.run_coroutine_threadsafe(factory(), self._loop).result(timeout)

    def start(self) -> ThreadedServer:
        self._thread.start()

        async def start() -> int:
            self._runner = web.AppRunner(self._app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        self.port = self.call(start)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            self.call(self._runner.cleanup)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


class StandIn:
    """Lifecycle shared by the stand-ins: an aiohttp app served by a ThreadedServer."""

    def __init__(self, app: web.Application) -> None:
        self._server = ThreadedServer(app)

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def base_url(self) -> str:
        return self._server.url
