"""Scale-out benchmark, run by hand (needs Debian's postgresql and influxdb packages, which
./scripts/test installs):

    .venv/bin/python -m bench.replicas [--conversations 1000]

One alert to N personal conversations through the Bot Connector stand-in (Teams'
per-conversation limits enforced), Teams' per-tenant cap lifted, each setup with its own fresh
database, same machine, same run, twice: I/O-bound (200 ms per call, 16 sends in flight per
replica: what replicas add) and at this machine's ceiling (50 ms, 64 in flight):
  baseline   1 replica (`python app.py`) on SQLite
  then       1, 2 and 3 replicas on PostgreSQL (one database, a private server)
Reports messages per second, the ratio to the baseline, exactly-once counts, and the claim
overhead: what one `Outbox.claim` costs per delivery it leases, on each backend.

Then the kill case (issue #24): three replicas on PostgreSQL, 100 chats, 200 ms per connector
call, Teams' tenant cap of 50 per second in force (each replica keeps to its third), one replica
killed (SIGKILL) 1 s into the fan-out; reported: when the last chat had its card, how many
deliveries the dead replica held, and the duplicates (sends it had handed to the connector).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from notifier.delivery.planner import OutboxSink
from storage.database import open_database
from storage.outbox import NewDelivery, Operation, Outbox
from tests.servers.postgres import PostgresServer
from tests.standins.connector import ConnectorStandIn
from tests.support.cluster import TENANT, register_people, sample_alert
from tests.support.process import AppProcess

log = logging.getLogger("bench.replicas")


async def fan_out(database_url: str, replicas: int, count: int, work: Path, latency: float,
                  concurrency: int) -> tuple[float, int, int, int]:
    """Seconds from publishing the alert to the last delivery done; exactly-once counts."""
    connector = ConnectorStandIn(latency=latency).start()
    db = await open_database(database_url)
    processes: list[AppProcess] = []
    try:
        await register_people(db, connector.url, count)
        env = {"DATABASE_URL": database_url, "MONITORING_ENABLED": "false",
               "TENANT_SEND_LIMIT_PER_SECOND": "0", "DELIVERY_CONCURRENCY": str(concurrency),
               "LOG_LEVEL": "WARNING"}
        processes = [AppProcess(env, work).start() for _ in range(replicas)]
        sink = OutboxSink(db)
        started = time.perf_counter()
        await sink.publish([sample_alert()])
        outbox = Outbox(db)
        while (await outbox.counts()).get("done", 0) < count:
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        per = Counter(r.conversation_id for r in connector.cards())
        once = sum(1 for n in per.values() if n == 1)
        duplicates = sum(n - 1 for n in per.values() if n > 1)
        return elapsed, once, duplicates, connector.violations
    finally:
        for process in processes:
            process.finish()
        await db.close()
        connector.stop()


async def kill_mid_fan_out(database_url: str, count: int, work: Path,
                           latency: float = 0.2, kill_after: float = 1.0) -> None:
    """Three replicas at the tenant cap, one killed mid fan-out: when every chat has its card."""
    connector = ConnectorStandIn(latency=latency).start()
    db = await open_database(database_url)
    processes: list[AppProcess] = []
    try:
        await register_people(db, connector.url, count)
        env = {"DATABASE_URL": database_url, "MONITORING_ENABLED": "false",
               "TENANT_SEND_LIMIT_PER_SECOND": "50", "LOG_LEVEL": "WARNING"}
        processes = [AppProcess(env, work).start() for _ in range(3)]
        await asyncio.sleep(6)  # a heartbeat or two: each replica knows it has a third of 50/s
        sink = OutboxSink(db)
        started = time.perf_counter()
        await sink.publish([sample_alert()])
        await asyncio.sleep(kill_after)
        victim = processes[0]
        assert victim.process is not None
        held = await db.fetch_all(
            "SELECT lease_owner, COUNT(*) AS n FROM deliveries WHERE status = 'pending' "
            "AND lease_until IS NOT NULL GROUP BY lease_owner")
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(10)
        killed = time.perf_counter() - started
        outbox = Outbox(db)
        while len({r.conversation_id for r in connector.cards()}) < count:
            await asyncio.sleep(0.02)
        last = time.perf_counter() - started
        per = Counter(r.conversation_id for r in connector.cards())
        duplicates = sum(n - 1 for n in per.values() if n > 1)
        log.info("kill mid fan-out: 3 replicas (PostgreSQL), %d chats, %g ms per call, tenant "
                 "cap 50/s; one killed at %.1f s (deliveries leased per replica then: %s); the "
                 "last chat had its card %.1f s after the publish; duplicates %d; limit violations "
                 "%d; outbox %s", count, latency * 1000, killed,
                 "/".join(str(row["n"]) for row in held) or "0", last, duplicates,
                 connector.violations, await outbox.counts())
    finally:
        for process in processes:
            process.finish()
        await db.close()
        connector.stop()


async def claim_overhead(database_url: str, count: int = 4000, batch: int = 64) -> float:
    """Milliseconds of `claim` per delivery leased (no sending), over `count` deliveries."""
    db = await open_database(database_url)
    try:
        outbox = Outbox(db)
        now = datetime.now(UTC)
        await outbox.enqueue([NewDelivery(f"e{n}", "a", TENANT, f"c{n}", Operation.TEXT, "x")
                              for n in range(count)], now)
        leased = 0
        spent = 0.0
        while leased < count:
            started = time.perf_counter()
            claimed = await outbox.claim("bench", now, batch, 600)
            spent += time.perf_counter() - started
            leased += len(claimed)
            await db.execute_atomically([
                ("UPDATE deliveries SET status = 'done' WHERE id = ?", (d.id,)) for d in claimed])
        return spent / count * 1000
    finally:
        await db.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--kill-only", action="store_true",
                        help="only the kill case (100 chats)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    for quiet in ("storage", "notifier"):
        logging.getLogger(quiet).setLevel(logging.WARNING)
    count = args.conversations
    server = PostgresServer().init().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            await kill_mid_fan_out(server.create_database(), 100, work)
            if args.kill_only:
                return
            for latency, concurrency, what in (
                    (0.2, 16, "I/O-bound: 200 ms per connector call, 16 sends in flight per "
                              "replica"),
                    (0.05, 64, "machine ceiling: 50 ms per call, 64 sends in flight per "
                               "replica")):
                log.info("fan-out of one alert to %d conversations, tenant cap lifted; %s:",
                         count, what)
                rows: list[tuple[str, float, int, int, int]] = []
                base = await fan_out(f"sqlite:///{work}/bench-{latency}.db", 1, count, work,
                                     latency, concurrency)
                rows.append(("1 replica, SQLite (baseline)", *base))
                for replicas in (1, 2, 3):
                    result = await fan_out(server.create_database(), replicas, count, work,
                                           latency, concurrency)
                    rows.append((f"{replicas} replica(s), PostgreSQL", *result))
                for name, elapsed, once, duplicates, violations in rows:
                    log.info("  %-30s %6.2f s %7.1f msg/s %5.2fx baseline; exactly once %d/%d, "
                             "duplicates %d, limit violations %d", name, elapsed,
                             count / elapsed, base[0] / elapsed, once, count, duplicates,
                             violations)
            sqlite_claim = await claim_overhead(f"sqlite:///{work}/claims.db")
            pg_claim = await claim_overhead(server.create_database())
            log.info("claim overhead per delivery (batches of 64, 4000 deliveries): SQLite "
                     "%.3f ms, PostgreSQL %.3f ms (%.2fx SQLite)", sqlite_claim, pg_claim,
                     pg_claim / sqlite_claim)
    finally:
        server.remove()


if __name__ == "__main__":
    asyncio.run(main())
