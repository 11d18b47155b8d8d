"""Monitoring benchmark against a real InfluxDB 1.x (Debian's influxd), run by hand:

    .venv/bin/python -m bench.monitoring [--trials 50] [--series 10000]

1. Detection latency: write a hot point at a random moment, measure until the `fired` event is
   published, with POLL_INTERVAL 1 s. Baseline: the poll interval itself (the goal is a median
   under interval + 100 ms).
2. Scale: one poll over N series of one rule: query time, evaluation time (the state machine
   over every series), state persistence, and the whole poll. Baseline for evaluation: decoding
   the same query's JSON body (the least any client must do with the answer).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from notifier.alerts.events import AlertEvent, EventKind
from notifier.monitoring.engine import SeriesState, step
from notifier.monitoring.influxql import InfluxQLSource, build_query
from notifier.monitoring.monitor import Monitor
from notifier.monitoring.rules import parse_rules
from storage.alert_state import AlertStateStore
from storage.database import open_database
from tests.servers.influx import ADMIN, ADMIN_PASSWORD, InfluxServer, point

RULE = '[[rule]]\nname = "bench"\nmeasurement = "temperature"\ncrit_above = 30.0\nno_data = "1h"\n'


class TimingSink:
    def __init__(self) -> None:
        self.fired: dict[str, float] = {}

    async def publish(self, events: list[AlertEvent]) -> None:
        stamp = time.perf_counter()
        for event in events:
            if event.kind is EventKind.FIRED:
                self.fired.setdefault(event.series["sensor"], stamp)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


async def detection_latency(influx: InfluxServer, work: Path, trials: int) -> None:
    influx.create_database("latency")
    db = await open_database(f"sqlite:///{work}/latency.db")
    source = InfluxQLSource(influx.url, "latency", username=ADMIN, password=ADMIN_PASSWORD)
    sink = TimingSink()
    interval = 1.0
    monitor = Monitor(parse_rules(RULE), source, AlertStateStore(db), sink, interval=interval,
                      down_after=60)
    task = asyncio.create_task(monitor.run())
    latencies: list[float] = []
    try:
        for trial in range(trials):
            await asyncio.sleep(random.uniform(0, interval))
            sensor = f"s{trial}"
            now_ms = int(datetime.now(UTC).timestamp() * 1000)
            written = time.perf_counter()
            await asyncio.to_thread(influx.write, "latency", [point("r", sensor, 35.0, now_ms)])
            while sensor not in sink.fired:
                await asyncio.sleep(0.005)
            latencies.append(sink.fired[sensor] - written)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await source.close()
        await db.close()
    median, p95 = statistics.median(latencies), percentile(latencies, 0.95)
    print(f"detection latency, interval {interval:g} s, {trials} trials:")
    print(f"  median {median * 1000:7.1f} ms  ({median / interval:.2f} x interval; goal < "
          f"{(interval + 0.1) / interval:.2f} x)")
    print(f"  p95    {p95 * 1000:7.1f} ms  ({p95 / interval:.2f} x interval)")
    print(f"  max    {max(latencies) * 1000:7.1f} ms")


async def scale(influx: InfluxServer, work: Path, series: int) -> None:
    influx.create_database("scale")
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    lines = [point(f"room{i % 100}", f"s{i}", 20.0 + (i % 15), now_ms) for i in range(series)]
    for start in range(0, series, 5000):
        influx.write("scale", lines[start:start + 5000])
    rule = parse_rules(RULE)[0]
    source = InfluxQLSource(influx.url, "scale", username=ADMIN, password=ADMIN_PASSWORD)
    try:
        await source.latest(rule)  # warm the connection and InfluxDB's caches
        query_times, decode_times, eval_times, steady_times = [], [], [], []
        readings = []
        for _ in range(5):
            started = time.perf_counter()
            readings = await source.latest(rule)
            query_times.append(time.perf_counter() - started)
        body = await asyncio.to_thread(_raw_query, influx, build_query(rule))
        for _ in range(5):
            started = time.perf_counter()
            json.loads(body)
            decode_times.append(time.perf_counter() - started)
        now = datetime.now(UTC)
        for _ in range(5):
            states = {r.key: SeriesState(rule="bench", key=r.key) for r in readings}
            started = time.perf_counter()
            for reading in readings:
                step(rule, states[reading.key], reading, now)
            eval_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            for reading in readings:
                step(rule, states[reading.key], reading, now)
            steady_times.append(time.perf_counter() - started)
        db = await open_database(f"sqlite:///{work}/scale.db")
        monitor = Monitor([rule], source, AlertStateStore(db), TimingSink(), interval=15,
                          down_after=60)
        started = time.perf_counter()
        first = await monitor.poll_once()
        first_poll = time.perf_counter() - started
        started = time.perf_counter()
        await monitor.poll_once()
        steady_poll = time.perf_counter() - started
        await db.close()
    finally:
        await source.close()
    assert len(readings) == series, (len(readings), series)
    query, decode, evaluation, steady = (statistics.median(t) for t in (
        query_times, decode_times, eval_times, steady_times))
    print(f"one poll over {series} series (median of 5):")
    print(f"  query (HTTP + JSON + readings)  {query * 1000:8.1f} ms")
    print(f"  JSON decode alone (baseline)    {decode * 1000:8.1f} ms")
    print(f"  evaluation, a third firing      {evaluation * 1000:8.1f} ms  "
          f"({evaluation / decode:.2f} x the decode baseline; goal < 50 ms per 10,000: "
          f"{evaluation * 10000 / series * 1000:.1f} ms)")
    print(f"  evaluation, steady state        {steady * 1000:8.1f} ms  "
          f"({steady / decode:.2f} x the decode baseline)")
    print(f"  first full poll (+{len(first)} fired events, {series} states saved) "
          f"{first_poll * 1000:8.1f} ms")
    print(f"  steady full poll (nothing changed) {steady_poll * 1000:8.1f} ms")


def _raw_query(influx: InfluxServer, query: str) -> str:
    return influx._request("/query", {"db": "scale", "q": query, "epoch": "ms"})  # noqa: SLF001


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--series", type=int, default=10000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        influx = InfluxServer(work / "influx").start()
        try:
            await scale(influx, work, args.series)
            await detection_latency(influx, work, args.trials)
        finally:
            influx.stop()


if __name__ == "__main__":
    asyncio.run(main())
