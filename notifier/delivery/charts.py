"""The trend chart on an incident's card: an Adaptive Card `Chart.Line` of its hottest series.

Teams (and Microsoft 365 Agents Playground) render `Chart.Line`; other hosts drop it
(`fallback: drop`). The points come from the alert's source through a `HistoryReader` the
composition root provides (InfluxDB for the monitoring's incidents; none for the receivers'):
one bounded query per card render, at most `LINES` lines of at most `POINTS` points over the
last `WINDOW_MINUTES` (the hottest reading of each step, then the newest reading), with the
rule's thresholds as flat lines. Renders of the same incident
state (a fan-out to 200 chats) share one query. A chart never holds a card back: a query that
fails or takes longer than `timeout` leaves the card without it, logged once per problem.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from common.clock import utcnow
from common.retry import FailureLog
from notifier.alerts.events import INFLUXDB, series_key
from notifier.alerts.record import AlertRecord, HotMember, IncidentSnapshot
from notifier.delivery.budget import CardJson

log = logging.getLogger(__name__)

WINDOW_MINUTES = 30
POINTS = 60  # per line: one per 30 s over 30 minutes
STEP_SECONDS = math.ceil(WINDOW_MINUTES * 60 / (POINTS - 1))  # a point's step (31 s)
LINES = 5
GAP_STEPS = 3  # chart steps without a point that make a gap in a line
Y_STEPS = 5  # grid steps of the y axis (the renderer draws yMin + k * (yMax - yMin) / 5)
_CACHE_SECONDS = 30.0
_CACHE_SIZE = 256
_THRESHOLDS = (("warn_above", "Warning", "warning"), ("crit_above", "Critical", "attention"),
               ("warn_below", "Warning", "warning"), ("crit_below", "Critical", "attention"))
# Where the x axis starts, in minutes before now. A renderer labels its axis at equal steps
# between the ends; ends like these make those labels short (-0.75, not -0.675 or -5.55e-17).
_AXIS_STARTS = (1, 2, 5, 10, 15, WINDOW_MINUTES)
_COLORS = ("categoricalBlue", "categoricalPurple", "categoricalTeal", "categoricalMarigold",
           "categoricalLavender")

# (rule, series tags, seconds, step seconds) -> {series key: [(time, value), ...]}; raises on
# failure. None from the root: this source has no history (an alert receiver's).
HistoryReader = Callable[[str, list[dict[str, str]], int, int],
                         Awaitable[dict[str, list[tuple[datetime, float]]]]]


class ChartMaker:
    """Builds the chart of an incident's card, or None when there is none to show."""

    def __init__(self, read: HistoryReader | None, *, timeout: float = 1.0,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._read = read
        self._timeout = timeout
        self._clock = clock
        # A source outage is the poller's to report (as an ERROR and a source-down alert).
        self._failures = FailureLog(log, "The chart query (cards go out without it)",
                                    logging.WARNING)
        self._cache: dict[tuple[str, str], tuple[float, asyncio.Task[CardJson | None]]] = {}
        # Every query task until it ends (one trimmed from the cache may still run), so
        # `close` can cancel them at shutdown.
        self._tasks: set[asyncio.Task[CardJson | None]] = set()

    async def chart(self, alert: AlertRecord) -> CardJson | None:
        event = alert.incident
        members = [m for m in event.hottest if m.tags][:LINES]
        if self._read is None or not alert.open or not members or not event.rule or \
                event.source != INFLUXDB:
            return None
        key = (alert.alert_id, event.at.isoformat() if event.at else "")
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is None or now - cached[0] > _CACHE_SECONDS:
            self._trim(now)
            task = asyncio.create_task(self._build(event, members), name="card-chart")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            cached = (now, task)
            self._cache[key] = cached
        return await asyncio.shield(cached[1])

    async def close(self) -> None:
        """Cancel the queries still running (shutdown: the app's other jobs have stopped)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._cache.clear()

    def _trim(self, now: float) -> None:
        if len(self._cache) < _CACHE_SIZE:
            return
        self._cache = {k: v for k, v in self._cache.items() if now - v[0] <= _CACHE_SECONDS}
        while len(self._cache) >= _CACHE_SIZE:
            self._cache.pop(next(iter(self._cache)))

    async def _build(self, event: IncidentSnapshot,
                     members: list[HotMember]) -> CardJson | None:
        assert self._read is not None
        seconds = WINDOW_MINUTES * 60
        try:
            async with asyncio.timeout(self._timeout):
                points = await self._read(event.rule, [dict(m.tags) for m in members],
                                          seconds, STEP_SECONDS)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            self._failures.failed(f"no answer in {self._timeout:g} s")
            return None
        except Exception as error:  # the source's own error: the card goes without a chart
            self._failures.failed(str(error) or error.__class__.__name__)
            return None
        self._failures.recovered()
        return line_chart(event, members, points, self._clock())


def line_chart(event: IncidentSnapshot, members: list[HotMember],
               points: dict[str, list[tuple[datetime, float]]],
               now: datetime) -> CardJson | None:
    """The `Chart.Line` element: x is minutes relative to `now` (each reader's time zone is
    unknown to a chart's labels), y the values; thresholds as flat lines.

    It tells what the card tells: each line ends at its series' newest reading as the card
    shows it (`value` at `at` of the member), and a step that reaches past that reading is not
    drawn (its extreme may be a later reading: the line rose past the card's value and fell
    back to it); a step keeps its extreme (`chart_aggregate`);
    a gap in the data is a gap (the line is split, not drawn across); the y axis fits the
    data and the thresholds with round labels; the thresholds come first, so a narrow legend
    that folds entries into "+2 items" folds sensors, not them, and the title names them."""
    unit = event.unit
    thresholds = [(f"{word} {value:g} {unit}".strip(), value, color)
                  for name, word, color in _THRESHOLDS
                  if (value := event.thresholds.get(name)) is not None]
    lines: list[CardJson] = []
    for member, color in zip(members, _COLORS, strict=False):
        series = sorted(points.get(series_key(member.tags)) or [])
        newest = _newest(member)
        if newest is not None:  # a point stands for the middle of its step (history_reader)
            reach = timedelta(seconds=STEP_SECONDS / 2)
            series = [p for p in series if p[0] + reach <= newest[0]][-(POINTS - 1):] + [newest]
        series = series[-POINTS:]
        if not series:
            continue
        legend = member.label or "-"
        for part in _split_at_gaps(series):
            lines.append({"legend": legend, "color": color, "values": [
                {"x": round((at - now).total_seconds() / 60, 1), "y": round(value, 2)}
                for at, value in part]})
    if not lines:
        return None
    start = axis_start(min(v["x"] for line in lines for v in line["values"]))
    flat = [{"legend": label, "color": color, "values": [{"x": start, "y": value},
                                                          {"x": 0, "y": value}]}
            for label, value, color in thresholds]
    low, high = y_range([v["y"] for line in lines for v in line["values"]]
                        + [value for _, value, _ in thresholds])
    title = f"Last {WINDOW_MINUTES} min"
    if thresholds:
        title += " · " + ", ".join(label for label, _, _ in thresholds)
    return {"type": "Chart.Line", "title": title,
            "xAxisTitle": "minutes (0 = now)", "yAxisTitle": unit or "value",
            "yMin": low, "yMax": high, "data": flat + lines, "fallback": "drop"}


def _newest(member: HotMember) -> tuple[datetime, float] | None:
    """The member's reading as the card shows it: (time, value), if the card has both."""
    if member.value is None or member.at is None:
        return None
    return member.at, member.value


def _split_at_gaps(series: list[tuple[datetime, float]]) -> list[list[tuple[datetime, float]]]:
    """Parts of a line between gaps: points further apart than `GAP_STEPS` chart steps (or
    twice the usual spacing of this series, if that is wider) are not joined, so a 20-minute
    outage is not drawn as a smooth decline that never happened."""
    if len(series) < 2:
        return [series]
    spacing = sorted((b[0] - a[0]).total_seconds() for a, b in zip(series, series[1:],
                                                                    strict=False))
    usual = spacing[len(spacing) // 2]
    limit = max(GAP_STEPS * WINDOW_MINUTES * 60 / POINTS, 2 * usual)
    parts = [[series[0]]]
    for before, point in zip(series, series[1:], strict=False):
        if (point[0] - before[0]).total_seconds() > limit:
            parts.append([])
        parts[-1].append(point)
    return parts


def y_range(values: list[float]) -> tuple[float, float]:
    """The y axis' ends: round numbers around `values` with room for `Y_STEPS` equal round
    steps between them. The renderer starts the axis at 0 unless told (yMin), which squeezed
    a 22-34 °C story into the top third, and draws its grid lines at (yMax - yMin) / 5 (the
    Chart.Line renderer of Microsoft 365 Agents Playground, node_modules/@microsoft/
    m365agentsplayground; Teams draws the same Fluent chart)."""
    low, high = min(values), max(values)
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    span = high - low
    magnitude = 10 ** math.floor(math.log10(span / Y_STEPS))
    for factor in (1, 2, 2.5, 3, 4, 5, 10, 20):
        step = factor * magnitude
        bottom = math.floor(low / step) * step
        if bottom + Y_STEPS * step >= high:
            return round(bottom, 6), round(bottom + Y_STEPS * step, 6)
    raise AssertionError("unreachable: 4 steps of 4 x span / 5 cover any span")


def axis_start(earliest: float) -> float:
    """The x axis' left end for points reaching back to `earliest` (minutes, <= 0)."""
    return -next((m for m in _AXIS_STARTS if -earliest <= m), max(_AXIS_STARTS))
