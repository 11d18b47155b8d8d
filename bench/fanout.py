"""Fan-out benchmark, run by hand:

    .venv/bin/python -m bench.fanout [--conversations 500] [--skip-baseline]

One alert to N personal conversations of one tenant through the Bot Connector stand-in
(Teams' per-conversation limits enforced, 200 ms per call):
  baseline   Microsoft's proactive sample: a sequential `continue_conversation` loop
  heatwatch  outbox + delivery workers, 50/s tenant cap (goal: within 15% of N/50 s)
  heatwatch with 5% of calls answered 429 (Retry-After 1): all still arrive, exactly once
  ceiling    tenant cap lifted, 50 ms per call, 1,000 conversations: messages/s, peak memory
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

from botbuilder.core import MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import ConversationReference

from bots.auth import build_authentication
from bots.sender import BotFrameworkSender
from common.settings import Settings
from notifier.delivery.planner import OutboxSink
from notifier.delivery.ratelimit import DeliveryLimiter
from notifier.delivery.workers import DeliveryWorker
from storage.database import open_database
from storage.outbox import Outbox
from tests.standins.connector import ConnectorStandIn
from tests.support.cluster import personal_reference, register_people, sample_alert

ADAPTERS: list = []


def adapter() -> CloudAdapter:
    authentication = build_authentication(Settings(), None)  # anonymous: no tokens
    ADAPTERS.append(authentication)
    return CloudAdapter(authentication)


async def close_adapters() -> None:
    for authentication in ADAPTERS:
        await authentication.connectors.close()
    ADAPTERS.clear()


async def baseline(connector: ConnectorStandIn, count: int) -> float:
    """The proactive sample's loop: one conversation after the other, stop at nothing."""
    cloud = adapter()
    started = time.perf_counter()
    for index in range(count):
        ref = ConversationReference().deserialize(personal_reference(connector.url, index))

        async def send(turn_context: TurnContext) -> None:
            await turn_context.send_activity(MessageFactory.text("Server room is hot"))

        await cloud.continue_conversation(ref, send, "")
    elapsed = time.perf_counter() - started
    await close_adapters()
    return elapsed


async def heatwatch(connector: ConnectorStandIn, count: int, work: Path, tenant_cap: float,
                    concurrency: int = 64) -> tuple[float, int]:
    database = await open_database(f"sqlite:///{work}/fanout-{time.monotonic_ns()}.db")
    await register_people(database, connector.url, count)
    sink = OutboxSink(database)
    worker = DeliveryWorker(database, BotFrameworkSender(adapter(), ""),
                            DeliveryLimiter(tenant_cap), wake=sink.wake, concurrency=concurrency,
                            backoff_base=0.2)
    started = time.perf_counter()
    await sink.publish([sample_alert()])
    task = asyncio.create_task(worker.run())
    outbox = Outbox(database)
    while (await outbox.counts()).get("done", 0) < count:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    dead = (await outbox.counts()).get("dead", 0)
    await database.close()
    await close_adapters()
    return elapsed, dead


def exactly_once(connector: ConnectorStandIn, count: int) -> tuple[int, int]:
    per = Counter(r.conversation_id for r in connector.cards())
    return sum(1 for n in per.values() if n == 1), sum(n - 1 for n in per.values() if n > 1)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # retries of injected 429s are expected here
    count = args.conversations
    floor = count / 50.0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        connector = ConnectorStandIn(latency=0.2).start()
        try:
            base = None
            if not args.skip_baseline:
                base = await baseline(connector, count)
                print(f"baseline (sequential continue_conversation loop), {count} conversations, "
                      f"200 ms per call: {base:7.1f} s  ({count / base:6.1f} msg/s)")
            connector.received.clear()
            violations = connector.violations
            elapsed, dead = await heatwatch(connector, count, work, 50.0)
            once, duplicates = exactly_once(connector, count)
            print(f"heatwatch, tenant cap 50/s:                               {elapsed:7.1f} s  "
                  f"({count / elapsed:6.1f} msg/s; floor {floor:.1f} s, "
                  f"{(elapsed / floor - 1) * 100:+.1f}% over it"
                  + (f"; {base / elapsed:.1f}x faster than the baseline" if base else "") + ")")
            print(f"  delivered exactly once: {once}/{count}, duplicates {duplicates}, dead "
                  f"{dead}, per-conversation limit violations "
                  f"{connector.violations - violations}")
        finally:
            connector.stop()

        connector = ConnectorStandIn(latency=0.2, throttle_share=0.05).start()
        try:
            elapsed, dead = await heatwatch(connector, count, work, 50.0)
            once, duplicates = exactly_once(connector, count)
            print(f"heatwatch, 5% answered 429 (Retry-After 1):                {elapsed:7.1f} s  "
                  f"({connector.throttled} throttled; delivered exactly once {once}/{count}, "
                  f"duplicates {duplicates}, dead {dead}, violations {connector.violations})")
        finally:
            connector.stop()

        ceiling_count = 1000
        connector = ConnectorStandIn(latency=0.05).start()
        try:
            tracemalloc.start()
            elapsed, dead = await heatwatch(connector, ceiling_count, work, 0.0, concurrency=128)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            once, _ = exactly_once(connector, ceiling_count)
            print(f"ceiling, tenant cap lifted, 50 ms per call, {ceiling_count} conversations: "
                  f"{elapsed:5.1f} s ({ceiling_count / elapsed:6.1f} msg/s; exactly once "
                  f"{once}/{ceiling_count}; peak Python memory {peak / 2**20:.1f} MiB)")
        finally:
            connector.stop()


if __name__ == "__main__":
    asyncio.run(main())
