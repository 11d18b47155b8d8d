"""Storm benchmark, run by hand:

    .venv/bin/python -m bench.storm [--quick]
    .venv/bin/python -m bench.storm --rooms 20 [--sensors 2000] [--chats 50]

A cooling unit fails: S sensors of one room cross the threshold in the same poll, and P
personal chats must be told. A real InfluxDB (Debian's influxd, started here), the poller, the
outbox and delivery workers, and the Bot Connector stand-in enforcing Teams' per-conversation
limits (60 messages per 30 s, 7 per second), with 0 or 200 ms per connector call. Measured per
(S, P, latency), from the write of the hot points:

  messages per chat     connector operations per chat (goal: at most 3 per incident)
  told                  until every chat has its card (goal at P = 20: poll interval + 2 s)
  complete              until every chat's card shows all S sensors
  operations            connector operations in all
  status                how long the `status` command takes while the storm goes out (goal 2 s)

The baseline is the per-sensor design (one card per sensor per chat: `incident_by` = every
`group_by` tag), measured in the same run at S = 200, P = 20, 0 ms; for the larger storms its
floor is computed from Teams' limits (S messages per chat at 60 per 30 s, and S * P at the
tenant cap), since measuring it would take hours.

With `--rooms R` (the site storm of issue #27): a site-wide cooling loss, S sensors spread over
R rooms of one site, all hot in the same poll, P chats; the rule has `site_by = ["site"]` (one
site card per chat), and the baseline, measured in the same run, is the same storm without it
(one card per room per chat). Measured: messages per chat (the most any chat got, and the
mean), *told* (every chat has a card) and *named* (every chat's cards name every room), from
the write, counted once the outbox is empty.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from botbuilder.integration.aiohttp import CloudAdapter

from bots.auth import build_authentication
from bots.sender import BotFrameworkSender
from common.settings import Settings
from notifier.chat.actions import Actor, AlertActions
from notifier.chat.commands import Commands
from notifier.delivery.planner import OutboxSink
from notifier.delivery.ratelimit import DeliveryLimiter
from notifier.delivery.workers import DeliveryWorker
from notifier.monitoring.influxql import InfluxQLSource
from notifier.monitoring.monitor import Monitor
from notifier.monitoring.rules import Rule, parse_rules
from storage.alert_state import AlertStateStore
from storage.backend import SqlBackend
from storage.database import open_database
from tests.servers.influx import ADMIN, ADMIN_PASSWORD, InfluxServer, point
from tests.standins.connector import ConnectorStandIn
from tests.support.cluster import register_people

POLL_SECONDS = 2.0
TENANT_CAP = 50.0
RULE = """
[[rule]]
name = "server-room"
measurement = "temperature"
group_by = ["room", "sensor"]
{incident_by}
warn_above = 27.0
crit_above = 32.0
repeat = "0"
"""


SITE_RULE = """
[[rule]]
name = "server-room"
measurement = "temperature"
group_by = ["site", "room", "sensor"]
incident_by = ["site", "room"]
{site_by}
warn_above = 27.0
crit_above = 32.0
repeat = "0"
"""


@dataclass
class Result:
    sensors: int
    chats: int
    latency: float
    per_chat: float
    told: float
    complete: float
    operations: int
    status: float
    violations: int


def sensors_on_card(card: dict) -> int:
    """Critical + warning + no data, as the card's counts show them (a per-sensor card: 1)."""
    for block in card.get("body", []):
        if block.get("type") == "ColumnSet":
            return sum(int(column["items"][0]["text"]) for column in block["columns"][:3])
    return 1


def cards_show_all(connector: ConnectorStandIn, chats: list[str], sensors: int) -> bool:
    """Every chat's latest card counts all sensors (per sensor: the chat has them all)."""
    for chat in chats:
        cards = [r.body["attachments"][0]["content"] for r in connector.received
                 if r.conversation_id == chat and "attachments" in (r.body or {})]
        if not cards or (sensors_on_card(cards[-1]) < sensors and len(cards) < sensors):
            return False
    return True


def rooms_named(connector: ConnectorStandIn, chat: str, rooms: list[str]) -> bool:
    """The chat's cards (any of them, as last sent) name every room."""
    latest: dict[str, str] = {}
    for r in connector.received:
        if r.conversation_id == chat and "attachments" in (r.body or {}):
            latest[r.activity_id or r.answered_id or ""] = str(r.body["attachments"])
    text = " ".join(latest.values())
    return all(f"'{room}'" in text for room in rooms)


@dataclass
class Pipeline:
    """The poller, outbox and delivery workers of one storm, over its own InfluxDB database,
    SQLite file and connector stand-in, with P registered personal chats."""

    name: str  # the InfluxDB database the storm writes to
    rules: list[Rule]
    database: SqlBackend
    connector: ConnectorStandIn
    people: list[str]


@asynccontextmanager
async def running(influx: InfluxServer, work: Path, prefix: str, rules_text: str, chats: int,
                  latency: float) -> AsyncIterator[Pipeline]:
    """The pipeline running, after a first quiet poll; on leaving, the outbox is drained and
    everything stopped and closed."""
    name = f"{prefix}_{time.monotonic_ns()}"
    influx.create_database(name)
    connector = ConnectorStandIn(latency=latency).start()
    database = await open_database(f"sqlite:///{work}/{name}.db")
    authentication = build_authentication(Settings(), None)
    try:
        people = await register_people(database, connector.url, chats)
        rules = parse_rules(rules_text)
        sink = OutboxSink(database, update_window=10.0)
        worker = DeliveryWorker(database, BotFrameworkSender(CloudAdapter(authentication), ""),
                                DeliveryLimiter(TENANT_CAP), wake=sink.wake, concurrency=64)
        source = InfluxQLSource(influx.url, name, username=ADMIN, password=ADMIN_PASSWORD)
        monitor = Monitor(rules, source, AlertStateStore(database), sink,
                          interval=POLL_SECONDS, down_after=600.0)
        tasks = [asyncio.create_task(worker.run()), asyncio.create_task(monitor.run())]
        await asyncio.sleep(POLL_SECONDS)  # a first, quiet poll
        try:
            yield Pipeline(name, rules, database, connector, people)
            await worker.drain(10.0)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await source.close()
    finally:
        await authentication.connectors.close()
        await database.close()
        connector.stop()


@dataclass
class SiteResult:
    site: bool
    most: int
    mean: float
    told: float
    named: float
    operations: int
    violations: int


async def site_storm(influx: InfluxServer, work: Path, sensors: int, rooms: int, chats: int,
                     latency: float, site: bool) -> SiteResult:
    """S sensors over R rooms of one site hot in one poll; `site`: the rule has site_by."""
    names = [f"dc1-{n:02}" for n in range(rooms)]
    rules = SITE_RULE.format(site_by='site_by = ["site"]' if site else "")
    async with running(influx, work, "site", rules, chats, latency) as storm:
        connector, people = storm.connector, storm.people
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        influx.write(storm.name, [point(names[n % rooms], f"rack-{n:04}", 28.0 + (n % 50) / 10,
                                        now_ms, site="ams1") for n in range(sensors)])
        written = time.perf_counter()
        told = named = 0.0
        while not named:
            if not told and all(connector.cards(chat) for chat in people):
                told = time.perf_counter() - written
            if told and all(rooms_named(connector, chat, names) for chat in people):
                named = time.perf_counter() - written
            await asyncio.sleep(0.05)
        while (await storm.database.fetch_one(
                "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'pending'"))["n"]:
            await asyncio.sleep(0.2)  # the gathered updates too: every message counted
    per_chat = Counter(r.conversation_id for r in connector.received)
    return SiteResult(site, max(per_chat.values()), sum(per_chat.values()) / chats, told, named,
                      len(connector.received), connector.violations)


async def site_main(rooms: int, sensors: int, chats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        influx = InfluxServer(work / "influxdb").start()
        try:
            print(f"site storm: S={sensors} sensors in R={rooms} rooms of one site, "
                  f"P={chats} chats, poll {POLL_SECONDS:g} s")
            print(f"{'cards':>9} {'ms':>4} {'msg/chat max':>13} {'mean':>6} {'told':>7} "
                  f"{'named':>7} {'ops':>6}")
            for latency in (0.0, 0.2):
                results = [await site_storm(influx, work, sensors, rooms, chats, latency, site)
                           for site in (False, True)]
                for r in results:
                    print(f"{'site' if r.site else 'per room':>9} {latency * 1000:4.0f} "
                          f"{r.most:13} {r.mean:6.1f} {r.told:6.2f}s {r.named:6.2f}s "
                          f"{r.operations:6}  violations {r.violations}")
                base, site_result = results
                print(f"          site vs per room: {base.mean / site_result.mean:.1f}x fewer "
                      f"messages, every room named {base.named / site_result.named:.1f}x "
                      "sooner")
        finally:
            influx.stop()
    print(f"goal: at most 3 messages per chat naming all {rooms} rooms, every chat told "
          f"within {POLL_SECONDS + 2:g} s")


async def storm(influx: InfluxServer, work: Path, sensors: int, chats: int, latency: float,
                per_sensor: bool = False) -> Result:
    rules = RULE.format(incident_by='incident_by = ["room", "sensor"]' if per_sensor else "")
    async with running(influx, work, "storm", rules, chats, latency) as storm:
        connector, people = storm.connector, storm.people
        commands = Commands(AlertActions(storm.database), AlertStateStore(storm.database),
                            storm.rules)
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        influx.write(storm.name, [point("dc1-a", f"rack-{n:04}", 28.0 + (n % 50) / 10, now_ms)
                                  for n in range(sensors)])
        written = time.perf_counter()
        told = status = 0.0
        while True:
            if not told and all(connector.cards(chat) for chat in people):
                told = time.perf_counter() - written
                started = time.perf_counter()
                await commands.run("status", Actor("", people[0], "bench"))
                status = time.perf_counter() - started
            if told and cards_show_all(connector, people, sensors):
                break
            await asyncio.sleep(0.05)
        complete = time.perf_counter() - written
    per_chat = Counter(r.conversation_id for r in connector.received)
    return Result(sensors, chats, latency, sum(per_chat.values()) / chats, told, complete,
                  len(connector.received), status, connector.violations)


def floor_per_sensor(sensors: int, chats: int) -> float:
    """The per-sensor design's best case: S messages per chat at 60 per 30 s, and all S * P
    at the tenant cap."""
    per_chat = max(0.0, (sensors - 60) / 60 * 30)
    return max(per_chat, sensors * chats / TENANT_CAP)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="S = 200 and P = 20 only")
    parser.add_argument("--rooms", type=int, default=0,
                        help="the site storm: sensors spread over this many rooms of one site")
    parser.add_argument("--sensors", type=int, default=2000, help="with --rooms")
    parser.add_argument("--chats", type=int, default=50, help="with --rooms")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.rooms:
        await site_main(args.rooms, args.sensors, args.chats)
        return
    cases = [(200, 20), (1000, 20), (200, 200), (1000, 200)]
    if args.quick:
        cases = cases[:1]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        influx = InfluxServer(work / "influxdb").start()
        try:
            base = await storm(influx, work, 200, 20, 0.0, per_sensor=True)
            print(f"baseline, per-sensor cards, S=200 P=20 0 ms: {base.per_chat:6.1f} messages "
                  f"per chat, every chat told all in {base.complete:6.1f} s, "
                  f"{base.operations} operations, status {base.status * 1000:.0f} ms")
            print(f"{'S':>5} {'P':>4} {'ms':>4} {'msg/chat':>9} {'told':>7} {'complete':>9} "
                  f"{'ops':>6} {'status':>8}  vs per-sensor")
            for sensors, chats in cases:
                for latency in (0.0, 0.2):
                    r = await storm(influx, work, sensors, chats, latency)
                    reference = (base.complete if (sensors, chats, latency) == (200, 20, 0.0)
                                 else floor_per_sensor(sensors, chats))
                    kind = "measured" if (sensors, chats, latency) == (200, 20, 0.0) else \
                        "floor"
                    print(f"{sensors:5} {chats:4} {latency * 1000:4.0f} {r.per_chat:9.1f} "
                          f"{r.told:6.2f}s {r.complete:8.2f}s {r.operations:6} "
                          f"{r.status * 1000:6.0f}ms  complete {reference / r.complete:6.1f}x "
                          f"sooner than the per-sensor {kind} ({reference:.0f} s); "
                          f"violations {r.violations}")
        finally:
            influx.stop()
    print(f"poll interval {POLL_SECONDS:g} s: goal told <= {POLL_SECONDS + 2:g} s at P = 20")


if __name__ == "__main__":
    asyncio.run(main())
