"""Waiting for the real world: the one polling loop of the tests (async and blocking), and
waiting for the app's outbox to be sent. Each returns as soon as the condition holds; the
timeout only bounds a failure, it is never what a test measures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

POLL_SECONDS = 0.02


async def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Wait until `check()` is truthy; its value. For checks that read in-process state (the
    connector stand-in, a component's fields) from a test running on the app's event loop."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or 'condition'}: not met within {timeout:g}s")
        await asyncio.sleep(POLL_SECONDS)


async def eventually_async(check: Callable[[], Awaitable[Any]], timeout: float = 10.0,
                           what: str = "") -> Any:
    """`eventually` for a check that must await (a database read)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or 'condition'}: not met within {timeout:g}s "
                                 f"(last: {result!r})")
        await asyncio.sleep(POLL_SECONDS)


def wait_until(check: Callable[[], object], timeout: float = 30.0, what: str = "") -> None:
    """Block until `check()` is truthy: for tests that drive other processes (`python app.py`,
    servers) rather than an app on their own event loop."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what or 'condition'}: not met within {timeout:g}s"
        time.sleep(POLL_SECONDS)


async def outbox_drained(app: Any, timeout: float = 10.0) -> None:
    """Wait until the app's outbox has nothing pending. A claimed row stays pending until the
    connector has answered its send, so after this every queued delivery (welcomes, card
    updates, alert cards, queued replies) has reached the connector stand-in, or is dead."""
    from heatwatch.server import SERVICES
    from storage.outbox import Outbox

    outbox = Outbox(app[SERVICES].database)

    async def nothing_pending() -> bool:
        return not (await outbox.counts()).get("pending", 0)

    await eventually_async(nothing_pending, timeout, "outbox drained")
