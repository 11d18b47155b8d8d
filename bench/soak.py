"""Soak benchmark, run by hand (needs Debian's influxdb package, which ./scripts/test installs):

    .venv/bin/python -m bench.soak [--minutes 20] [--every 2] [--chats 50] [--rooms 10]

Steady load on one real `python app.py` (SQLite, or PostgreSQL with --postgres) polling a real
InfluxDB every second, sending through the Bot Connector stand-in (Teams' per-conversation
limits enforced, `--latency` per call), for `--minutes`:
  - 3 sensors in each of `--rooms` rooms, written every second (values wander, so open
    incidents' cards get updates);
  - every `--heat-every` seconds the next room heats: one sensor warm (a new incident, a first
    post in every chat; a lone sensor's jump is confirmed by its next reading before it pages,
    notifier/monitoring/probes.py, so with `--heat-shape room` the room's other sensors warm
    in the same write, under the threshold, and it is heat at once), 10 s later a second
    sensor (an update), 20 s later critical (an escalation), 45 s later it cools (resolved:
    card update and a note); reminders every 30 s while it is hot (`repeat`);
  - every 5 s a person asks `status` in their chat, and reacts to a card (a heart, stored;
    now and then a like, which acknowledges).
With `--tracemalloc N` the app runs in this process instead (create_app), under tracemalloc,
and each report adds the N places whose allocations grew most since the first report (RSS is
then this whole process's, and tracemalloc slows everything: latencies are not comparable).

Every `--every` minutes it prints the app's RSS, the database's size on disk, rows per table and
pending deliveries (from /metrics), and the new-incident latency: from the write of the hot
point to the incident's first card accepted by the connector in the slowest chat (p50, p99,
max over the incidents of the period), and over every chat (p99).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from common.settings import load_settings
from demo.processes import free_port, stop_process, wait_for_http
from heatwatch.server import create_app
from storage.database import open_database
from tests.servers.influx import ADMIN, ADMIN_PASSWORD, InfluxServer, point
from tests.servers.postgres import PostgresServer
from tests.standins.connector import BODY, ConnectorStandIn
from tests.support.cluster import BOT, TENANT, register_people
from tests.support.process import ROOT

log = logging.getLogger("bench.soak")

SENSORS = ("s1", "s2", "s3")
RULE = """[[rule]]
name = "soak"
measurement = "temperature"
warn_above = 27.0
crit_above = 32.0
repeat = "30s"
no_data = "1h"
"""


@dataclass
class Heat:
    room: str
    written: float  # monotonic time of the hot point's write
    waiting: set[str]
    arrived: dict[str, float] = field(default_factory=dict)


class TimedConnector(ConnectorStandIn):
    """The stand-in, noting when each room's new incident card reached each chat."""

    def __init__(self, latency: float, rooms: list[str]) -> None:
        super().__init__(latency=latency)
        self.rooms = rooms
        self.heats: dict[str, Heat] = {}  # room -> its open heating
        self.finished: list[Heat] = []
        self.first_posts = 0
        self.timing_lock = threading.Lock()

    async def _send(self, request: web.Request) -> web.Response:
        response = await super()._send(request)
        body = request[BODY]
        if response.status == 201 and isinstance(body, dict) and body.get("attachments"):
            stamp = time.monotonic()
            text = json.dumps(body)
            if '"ack"' in text:  # an alert card's Acknowledge verb: a first post
                cid = request.match_info["cid"]
                with self.timing_lock:
                    self.first_posts += 1
                    for room in self.rooms:
                        heat = self.heats.get(room)
                        if heat and room in text and cid in heat.waiting:
                            heat.waiting.discard(cid)
                            heat.arrived[cid] = stamp - heat.written
                            if not heat.waiting:
                                self.finished.append(self.heats.pop(room))
        return response

    def heating(self, heat: Heat) -> None:
        with self.timing_lock:
            stale = self.heats.pop(heat.room, None)
            if stale is not None:
                self.finished.append(stale)  # some chat never got it: counted as missing
            self.heats[heat.room] = heat

    def take_finished(self) -> list[Heat]:
        with self.timing_lock:
            done, self.finished = self.finished, []
        return done


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def database_mib(path: Path | None) -> float:
    if path is None:
        return float("nan")
    files = [path, path.with_name(path.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) / 2**20


async def scrape(session: aiohttp.ClientSession, url: str) -> tuple[dict[str, int], int]:
    async with session.get(url + "/metrics") as response:
        text = await response.text()
    tables: dict[str, int] = {}
    pending = 0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "heatwatch_table_rows":
                tables[sample.labels["table"]] = int(sample.value)
            elif sample.name == "heatwatch_outbox_deliveries" and sample.labels.get(
                    "status") == "pending":
                pending = int(sample.value)
    return tables, pending


def personal_message(service_url: str, index: int, **fields: object) -> dict[str, object]:
    return {"type": "message", "id": f"m{time.time_ns()}", "channelId": "msteams",
            "serviceUrl": service_url,
            "from": {"id": f"29:user-{index}", "aadObjectId": f"aad-{index}",
                     "name": f"Person {index}"},
            "conversation": {"id": f"a:person-{index}", "conversationType": "personal",
                             "tenantId": TENANT},
            "recipient": BOT, "channelData": {"tenant": {"id": TENANT}}, **fields}


class Load:
    def __init__(self, influx: InfluxServer, connector: TimedConnector, app_url: str,
                 chats: list[str], rooms: list[str], heat_every: float,
                 heat_shape: str) -> None:
        self.influx = influx
        self.connector = connector
        self.app_url = app_url
        self.chats = chats
        self.rooms = rooms
        self.heat_every = heat_every
        self.heat_shape = heat_shape
        self.values = {(room, sensor): 22.0 for room in rooms for sensor in SENSORS}
        self.hot: dict[tuple[str, str], float] = {}
        self.requests_failed = 0

    async def write(self, lines: list[str]) -> None:
        await asyncio.to_thread(self.influx.write, "soak", lines)

    async def sensors(self) -> None:
        """Every sensor, every second; a hot one near its hot value, the others near 22 °C."""
        while True:
            now_ms = int(time.time() * 1000)
            lines = []
            for key in self.values:
                base = self.hot.get(key, 22.0)
                self.values[key] = base + random.uniform(-0.3, 0.3)
                lines.append(point(key[0], key[1], round(self.values[key], 2), now_ms))
            await self.write(lines)
            await asyncio.sleep(1.0)

    async def heat(self, room: str) -> None:
        try:
            await self._heat(room)
        except OSError as error:  # InfluxDB refused a write: this heating is not measured
            log.warning("soak: heating %s not measured: %s", room, error)

    async def _heat(self, room: str) -> None:
        self.hot[(room, "s1")] = 28.5
        stamp = int(time.time() * 1000)
        lines = [point(room, "s1", 28.5, stamp)]
        if self.heat_shape == "room":
            # The whole room warms: its other sensors move with s1 (to 26 °C, under the
            # warning), so the jump is heat at once, not a lone probe's to confirm.
            for sensor in SENSORS[1:]:
                self.hot[(room, sensor)] = 26.0
                lines.append(point(room, sensor, 26.0, stamp))
        written = time.monotonic()
        await self.write(lines)
        self.connector.heating(Heat(room, written, set(self.chats)))
        await asyncio.sleep(10)
        self.hot[(room, "s2")] = 29.0
        await asyncio.sleep(10)
        self.hot[(room, "s1")] = 33.5
        await asyncio.sleep(25)
        for sensor in SENSORS:
            self.hot.pop((room, sensor), None)

    async def heating(self) -> None:
        tasks = set()
        for room in itertools.cycle(self.rooms):
            task = asyncio.create_task(self.heat(room))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            await asyncio.sleep(self.heat_every)

    async def people(self, session: aiohttp.ClientSession) -> None:
        """A `status` and a reaction every 5 s, from a random person."""
        while True:
            await asyncio.sleep(5)
            index = random.randrange(len(self.chats))
            cards = [r for r in self.connector.cards(self.chats[index])][-3:]
            activities = [personal_message(self.connector.url, index, text="status")]
            if cards:
                kind = "like" if random.random() < 0.1 else "heart"
                activities.append(personal_message(
                    self.connector.url, index, type="messageReaction",
                    replyToId=cards[-1].answered_id, reactionsAdded=[{"type": kind}]))
            for activity in activities:
                try:
                    async with session.post(self.app_url + "/api/messages",
                                            json=activity) as response:
                        if response.status >= 300:
                            self.requests_failed += 1
                except aiohttp.ClientError:
                    self.requests_failed += 1


async def soak(args: argparse.Namespace, work: Path, database_url: str,
               sqlite_file: Path | None) -> None:
    rooms = [f"hall-{chr(ord('a') + n)}" for n in range(args.rooms)]
    influx = InfluxServer(work / "influx").start()
    connector = TimedConnector(args.latency, rooms).start()
    app: subprocess.Popen[bytes] | None = None
    try:
        influx.create_database("soak")
        db = await open_database(database_url)
        chats = await register_people(db, connector.url, args.chats)
        await db.close()
        rules = work / "rules.toml"
        rules.write_text(RULE)
        port = free_port()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("Microsoft")},
               "DATABASE_URL": database_url, "RULES_FILE": str(rules),
               "INFLUX_URL": influx.url, "INFLUX_DATABASE": "soak", "INFLUX_USERNAME": ADMIN,
               "INFLUX_PASSWORD": ADMIN_PASSWORD, "POLL_INTERVAL_SECONDS": "1",
               "PORT": str(port), "LOG_LEVEL": "WARNING",
               "TENANT_SEND_LIMIT_PER_SECOND": str(args.tenant_cap),
               "DELIVERY_RETENTION_HOURS": str(args.delivery_retention_hours),
               "INCIDENT_RETENTION_DAYS": str(args.incident_retention_days),
               "REACTION_RETENTION_DAYS": str(args.incident_retention_days)}
        app_url = f"http://127.0.0.1:{port}"
        runner: web.AppRunner | None = None
        if args.tracemalloc:
            for name in ("bots", "common", "heatwatch", "notifier", "storage"):
                logging.getLogger(name).setLevel(logging.WARNING)
            tracemalloc.start(30)
            runner = web.AppRunner(create_app(load_settings(environ=env, env_file=None)),
                                   access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            pid = os.getpid()
        else:
            app_log = (work / "app.log").open("wb")
            app = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=work, env=env,
                                   stdout=app_log, stderr=subprocess.STDOUT)
            wait_for_http(app_url + "/readyz", 200, app, lambda: "the app exited early", 30)
            pid = app.pid
        first: tracemalloc.Snapshot | None = None
        load = Load(influx, connector, app_url, chats, rooms, args.heat_every, args.heat_shape)
        log.info("soak: %d chats, %d rooms (one heats every %gs, %s), connector %g ms per "
                 "call, tenant cap %g/s, %s, %g minutes, finished deliveries kept %g h",
                 args.chats, args.rooms, args.heat_every,
                 "one sensor" if args.heat_shape == "sensor" else "the whole room",
                 args.latency * 1000, args.tenant_cap,
                 "PostgreSQL" if sqlite_file is None else "SQLite", args.minutes,
                 args.delivery_retention_hours)
        log.info("%6s %8s %8s %8s | %-34s | %7s %s", "min", "RSS MiB", "DB MiB", "pending",
                 "new incident, slowest chat p50/p99/max s", "all p99", "rows per table")
        async with aiohttp.ClientSession() as session:
            jobs = [asyncio.create_task(job) for job in (load.sensors(), load.heating(),
                                                         load.people(session))]
            started = time.monotonic()
            every_slowest: list[float] = []
            try:
                end = started + args.minutes * 60
                while time.monotonic() < end:
                    await asyncio.sleep(min(args.every * 60, end - time.monotonic()))
                    heats = connector.take_finished()
                    connector.clear()  # the stand-in's own record of requests is not measured
                    slowest = [max(h.arrived.values()) if not h.waiting else float("inf")
                               for h in heats if h.arrived or h.waiting]
                    every = [value for h in heats for value in h.arrived.values()]
                    every_slowest += slowest
                    tables, pending = await scrape(session, app_url)
                    figures = (f"{percentile(slowest, 0.5):5.2f} / "
                               f"{percentile(slowest, 0.99):5.2f} / {max(slowest):5.2f} "
                               f"({len(slowest)} incidents)") if slowest else "-"
                    log.info("%6.1f %8.1f %8.1f %8d | %-34s | %7s %s",
                             (time.monotonic() - started) / 60, rss_mib(pid),
                             database_mib(sqlite_file), pending, figures,
                             f"{percentile(every, 0.99):.2f}" if every else "-",
                             " ".join(f"{t}={n}" for t, n in sorted(tables.items()) if n))
                    if args.tracemalloc:
                        snapshot = tracemalloc.take_snapshot()
                        if first is None:
                            first = snapshot
                        for stat in snapshot.compare_to(first, "traceback")[:args.tracemalloc]:
                            # The allocating line, and the innermost HeatWatch line that led
                            # to it (who holds the memory is usually near there).
                            ours = [frame for frame in stat.traceback
                                    if str(ROOT) in frame.filename
                                    and "/.venv/" not in frame.filename]
                            log.info("    %+8.1f KiB %s <- %s", stat.size_diff / 1024,
                                     stat.traceback[-1], ours[-1] if ours else "-")
            finally:
                for job in jobs:
                    job.cancel()
                await asyncio.gather(*jobs, return_exceptions=True)
        if every_slowest:
            log.info("whole run, new incident in the slowest chat: p50 %.2f s, p99 %.2f s, "
                     "max %.2f s over %d incidents; limit violations %d; failed requests %d",
                     percentile(every_slowest, 0.5), percentile(every_slowest, 0.99),
                     max(every_slowest), len(every_slowest), connector.violations,
                     load.requests_failed)
        if runner is not None:
            await runner.cleanup()
    finally:
        stop_process(app, 10)
        connector.stop()
        influx.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--every", type=float, default=2.0, help="minutes between reports")
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--heat-every", type=float, default=15.0)
    parser.add_argument("--heat-shape", choices=("sensor", "room"), default="sensor",
                        help="a heating is one sensor's jump (confirmed a reading later) or "
                             "the whole room's")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per connector call")
    parser.add_argument("--tenant-cap", type=float, default=50.0)
    parser.add_argument("--delivery-retention-hours", type=float, default=0.25,
                        help="DELIVERY_RETENTION_HOURS (short, so a short run shows it)")
    parser.add_argument("--incident-retention-days", type=float, default=0.015,
                        help="INCIDENT_RETENTION_DAYS and REACTION_RETENTION_DAYS (0.015 days is "
                             "about 22 minutes, so a two-hour run shows a flat database)")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="N",
                        help="run the app in this process; report its N fastest-growing "
                             "allocation sites")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    with tempfile.TemporaryDirectory(prefix="heatwatch-soak-") as tmp:
        work = Path(tmp)
        if args.postgres:
            server = PostgresServer().init().start()
            try:
                await soak(args, work, server.create_database(), None)
            finally:
                server.remove()
        else:
            await soak(args, work, f"sqlite:///{work}/soak.db", work / "soak.db")


if __name__ == "__main__":
    asyncio.run(main())
