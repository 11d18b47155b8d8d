"""Rate of rise and time-to-critical, from the readings the poller already has.

The poller keeps each series' readings of the last few minutes (`RecentReadings`). `estimate`
turns them into a `Trend`, robustly:

- an isolated outlier (a reading that jumps and comes straight back) is dropped;
- a step (a jump between two readings that the rest of the window does not show: a probe moved,
  a door opened beside it) ends the history: only the readings after the newest step count, so
  a step is not a trend, and there is no trend until enough readings follow it;
- the slope is Theil–Sen (the median of the pairwise slopes), which one bad reading cannot
  move, with a range from the same pairs (Sen 1968: the ranks of Kendall's tau, about 95 %);
- a trend is *good* when it has at least `MIN_READINGS` readings over `MIN_SPAN` seconds and
  its rise over the window stands out of the noise (`SIGNIFICANT` times the robust scale of
  the residuals). Only a good trend pages (`rise_warn`, `rise_crit`, `forecast_within`) or is
  put in words on a card;
- an onset (a steady series that turned into a rise: a cooling failure's first minutes) is
  found as the hinge of a two-segment fit, and the rate and time to critical a good trend is
  told with are those of the readings since it (`Trend.told`): the median of pairs that
  straddle the hinge says a fraction of the rate (*rising 0.5 °C/min* a minute into a
  2 °C/min failure). Pages are judged on the trend itself.

Kept in memory: after a restart the trend is back after a few polls.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from statistics import median

from notifier.alerts.events import Severity
from notifier.monitoring.rules import Rule

WINDOW_SECONDS = 300.0  # readings older than this do not count toward the trend
SHORT_SECONDS = 120.0  # a fast onset shows within this, before it dominates the window
RECENT_SECONDS = 60.0  # "still rising": the slope of the newest minute's readings
MAX_READINGS = 40  # per series (a 5 s poll fills 5 min with 60; every other one is plenty)
MIN_READINGS = 5  # a good trend has at least this many readings since the last step ...
MIN_SPAN = 90.0  # ... over at least this many seconds
STEADY = 0.05  # units per minute below which a series counts as steady
# A jump between two readings is a step (or, if it comes straight back, an outlier) when it is
# more than STEP_MIN units plus STEP_RATE units per minute between them, and STEP_SCALE times
# the series' usual change between readings. Room air does not do that: the fastest cooling
# failures operators report rise about 18 °C in 15 min (1.2 °C/min). Set for °C-like units.
STEP_MIN = 1.0
STEP_RATE = 1.5  # units per minute
STEP_SCALE = 6.0
SIGNIFICANT = 3.0  # a good trend's rise over its span is this many times the noise
# An onset: at least ONSET_READINGS readings over ONSET_SPAN seconds after the hinge, rising
# ONSET_GAIN times as fast as before it, and the two segments fit with at most ONSET_FIT of
# the squared error of one line (a straight rise, or a drift with noise, has no onset).
ONSET_READINGS = 3
ONSET_SPAN = 30.0
ONSET_GAIN = 2.0
ONSET_FIT = 0.5
_Z = 1.96  # the slope range: about 95 % (two-sided) under Kendall's tau


@dataclass(frozen=True, slots=True)
class Trend:
    """A series' robust trend: slope and its range in units per minute, the fitted level at
    the newest reading, and whether it is good enough to act on or to put in words."""

    slope: float
    low: float
    high: float
    level: float
    readings: int
    span: float  # seconds from the first to the newest reading used
    noise: float  # robust scale of the residuals, units
    good: bool
    stepped: bool  # a step or an outlier was left out of the window
    sustained: float | None = None  # the whole window's slope when good (else None)
    recent: float | None = None  # the newest minute's slope (None: too few readings)
    since: Trend | None = None  # a good trend's readings since an onset, when steeper

    @property
    def told(self) -> Trend:
        """The trend to put in words (rate, time to critical, arrow, likely cause): since an
        onset when there is one. What pages is judged on the trend itself, as before: an onset
        found in a few readings makes the words true, not the page sooner (a door opened
        beside a probe has an onset too)."""
        return self.since or self

    @property
    def arrow(self) -> float | None:
        """What a card's trend arrow shows: the slope of a good trend (as told), 0 (steady)
        for enough readings without one, None (no arrow) for too few (after a step)."""
        if self.good:
            return self.told.slope
        return 0.0 if self.readings >= MIN_READINGS and self.span >= MIN_SPAN else None


def _mad(values: Sequence[float]) -> float:
    """The median absolute deviation, scaled to a standard deviation for normal noise."""
    if not values:
        return 0.0
    centre = median(values)
    return 1.4826 * median(abs(v - centre) for v in values)


def _step_limit(values: Sequence[float]) -> float:
    changes = [b - a for a, b in zip(values, values[1:], strict=False)]
    if len(changes) < 3:
        return STEP_MIN
    return max(STEP_MIN, STEP_SCALE * _mad(changes) + abs(median(changes)))


def clean(points: Sequence[tuple[float, float]]) -> tuple[list[tuple[float, float]], bool]:
    """The readings after the newest step, without isolated outliers; and whether anything
    was left out. A jump in the newest reading is a step until the next reading says
    otherwise (it leaves no readings after it to make a trend of)."""
    data = list(points)
    if len(data) < 2:
        return data, False
    usual = _step_limit([v for _, v in data])
    kept: list[tuple[float, float]] = [data[0]]
    dropped = False
    for i in range(1, len(data)):
        before, here = kept[-1][1], data[i][1]
        after = data[i + 1][1] if i + 1 < len(data) else None
        jump = here - before
        limit = usual + STEP_RATE * (data[i][0] - kept[-1][0]) / 60
        if abs(jump) >= limit and after is not None and abs(after - before) < limit / 2 \
                and abs(after - here) >= limit:
            dropped = True  # out and straight back: an outlier
            continue
        if abs(jump) >= limit:
            kept, dropped = [data[i]], True  # a step: what came before does not count
            continue
        kept.append(data[i])
    return kept, dropped


def estimate(points: Sequence[tuple[float, float]]) -> Trend | None:
    """The robust trend of (seconds, value) readings, oldest first; None without at least
    three readings after the newest step."""
    data, stepped = clean(points)
    n = len(data)
    if n < 3:
        return None
    slopes = sorted((b[1] - a[1]) / (b[0] - a[0]) for i, a in enumerate(data)
                    for b in data[i + 1:] if b[0] > a[0])
    if not slopes:
        return None
    slope = median(slopes)
    pairs = len(slopes)
    spread = _Z * math.sqrt(n * (n - 1) * (2 * n + 5) / 18)
    low = slopes[max(0, int((pairs - spread) / 2))]
    high = slopes[min(pairs - 1, int(math.ceil((pairs + spread) / 2)) - 1)]
    newest = data[-1][0]
    intercept = median(v - slope * (t - newest) for t, v in data)
    noise = _mad([v - (intercept + slope * (t - newest)) for t, v in data])
    span = newest - data[0][0]
    rise = abs(slope) * span
    good = n >= MIN_READINGS and span >= MIN_SPAN and rise >= SIGNIFICANT * max(noise, 1e-9)
    return Trend(slope=slope * 60, low=low * 60, high=high * 60, level=intercept,
                 readings=n, span=span, noise=noise, good=good, stepped=stepped)


def _squared_errors(points: Sequence[tuple[float, float]]) -> list[list[float]]:
    """Prefix sums (n, t, v, tt, tv, vv) of the readings, for the least-squares error of any
    run of them in constant time."""
    sums = [[0.0] * 6]
    # Both origins at the first reading: large values (Pa, W, counters) keep their precision.
    start, base = points[0] if points else (0.0, 0.0)
    for t, v in points:
        t, v = t - start, v - base
        last = sums[-1]
        sums.append([last[0] + 1, last[1] + t, last[2] + v, last[3] + t * t, last[4] + t * v,
                     last[5] + v * v])
    return sums


def _line_error(sums: list[list[float]], start: int, stop: int) -> float:
    """The squared error of the least-squares line through readings [start, stop)."""
    a, b = sums[start], sums[stop]
    n, t, v, tt, tv, vv = b[0] - a[0], b[1] - a[1], b[2] - a[2], b[3] - a[3], b[4] - a[4], \
        b[5] - a[5]
    if n < 2:
        return 0.0
    stt, stv, svv = tt - t * t / n, tv - t * v / n, vv - v * v / n
    return max(0.0, svv - (stv * stv / stt if stt > 0 else 0.0))


def onset(points: Sequence[tuple[float, float]]) -> int | None:
    """The index of the reading where a steady (or slower) series turned into a rise, or
    None: the hinge of the best two-segment least-squares fit, kept when it explains the
    readings far better than one line and the rise after it is much steeper and stands out
    of the noise before it. `points` are clean (no steps or outliers)."""
    n = len(points)
    if n < ONSET_READINGS + 3:
        return None
    sums = _squared_errors(points)
    whole = _line_error(sums, 0, n)
    best: tuple[float, int] | None = None
    for k in range(2, n - ONSET_READINGS + 1):  # at least 3 readings before, the hinge shared
        if points[-1][0] - points[k][0] < ONSET_SPAN:
            break
        error = _line_error(sums, 0, k + 1) + _line_error(sums, k, n)
        if best is None or error < best[0]:
            best = (error, k)
    if best is None or best[0] > ONSET_FIT * whole:
        return None
    k = best[1]
    before, after = estimate(points[:k + 1]), estimate(points[k:])
    if before is None or after is None:
        return None
    rise = abs(after.slope) / 60 * after.span
    if abs(after.slope) < ONSET_GAIN * max(abs(before.slope), STEADY) or \
            rise < SIGNIFICANT * max(before.noise, after.noise, 1e-9):
        return None
    return k


def slope_per_minute(points: Sequence[tuple[float, float]]) -> float | None:
    """The robust slope of (seconds, value) readings in units per minute, or None."""
    trend = estimate(points)
    return trend.slope if trend is not None else None


class RecentReadings:
    """The last few minutes of readings of each series, by (rule, series key)."""

    def __init__(self, window: float = WINDOW_SECONDS, limit: int = MAX_READINGS) -> None:
        self._window = window
        self._limit = limit
        self._points: dict[tuple[str, str], deque[tuple[float, float]]] = {}

    def add(self, rule: str, key: str, time: datetime, value: float) -> None:
        """Keep a reading. Readings closer than window/limit (7.5 s) to the one before the
        newest replace the newest: polled every second, a series still keeps 5 minutes in its
        40 readings (kept by count alone, 40 s of them could never make a good trend)."""
        points = self._points.get((rule, key))
        if points is None:
            points = self._points[(rule, key)] = deque(maxlen=self._limit)
        stamp = time.timestamp()
        if points and stamp <= points[-1][0]:
            return  # the same point again (a series that did not report since)
        if len(points) >= 2 and stamp - points[-2][0] < self._window / self._limit:
            points[-1] = (stamp, value)  # thinned: the newest reading is always kept
            return
        points.append((stamp, value))

    def points(self, rule: str, key: str) -> list[tuple[float, float]]:
        """The series' readings in the window before its newest reading, oldest first."""
        points = self._points.get((rule, key))
        if not points:
            return []
        start = points[-1][0] - self._window
        while points and points[0][0] < start:
            points.popleft()
        return list(points)

    def trend(self, rule: str, key: str) -> Trend | None:
        """The steeper good trend of the window and of its last `SHORT_SECONDS`: a cooling
        failure's first two minutes are a clear trend long before they are the median of five
        minutes; a slow drift needs the whole window to stand out of the noise."""
        points = self.points(rule, key)
        whole = estimate(points)
        if not points:
            return whole
        sustained = whole.slope if whole is not None and whole.good else None
        newest = estimate([p for p in points if p[0] >= points[-1][0] - RECENT_SECONDS])
        latest = newest.slope if newest is not None and newest.readings >= 4 else None
        start = points[-1][0] - SHORT_SECONDS
        short = estimate([p for p in points if p[0] >= start])
        chosen = whole
        if short is not None and short.good and (
                whole is None or not whole.good or abs(short.slope) > abs(whole.slope)):
            chosen = short
        if chosen is None:
            return None
        since = None
        # What it says: the rate and level since an onset, when there is one; only a newest
        # minute steeper than the trend can follow one (and most series have none: cheap).
        if chosen.good and latest is not None and abs(latest) > abs(chosen.slope):
            data, _ = clean(points)
            hinge = onset(data)
            since = estimate(data[hinge:]) if hinge is not None else None
            if since is not None and not (abs(since.slope) > abs(chosen.slope) and
                                          (since.slope > 0) == (chosen.slope > 0)):
                since = None
        return replace(chosen, sustained=sustained, recent=latest,
                       since=replace(since, good=True) if since is not None else None)

    def slope(self, rule: str, key: str) -> float | None:
        """The series' robust trend over the window before its newest reading."""
        trend = self.trend(rule, key)
        return trend.slope if trend is not None else None

    def keep_rules(self, names: set[str]) -> None:
        """Forget the series of rules no longer configured."""
        self._points = {k: v for k, v in self._points.items() if k[0] in names}

    def forget(self, rule: str, key: str) -> None:
        """Forget one series (no data for its rule's `forget_after`)."""
        self._points.pop((rule, key), None)


FAST_RISE = 1 / 3  # units/min: ASHRAE's 20 °C per hour, for rules without rise_warn


def cause_hint(slopes: list[float | None], fast: float) -> str:
    """The likely cause from a group's slopes (toward trouble; None: no good trend): most
    sensors rising fast is a cooling failure (operators report 18 °C in 15 min after an air
    handler failed), one alone a local hot spot, a slow rise cooling that cannot keep up."""
    total = len(slopes)
    rising = [s for s in slopes if s is not None and s >= STEADY]
    quick = sum(s >= fast for s in rising)
    if total >= 2 and quick * 2 >= total:
        return f"fast rise in {quick} of {total} sensors: cooling failure?"
    if quick == 1 and total >= 3:
        return f"fast rise in 1 of {total} sensors: a local hot spot?"
    if rising and not quick:
        return (f"slow drift in {len(rising)} of {total} sensors: cooling not keeping up?")
    return ""


def per_minute(rate: float, unit: str) -> str:
    return f"{abs(rate):.1f} {unit}/min" if unit else f"{abs(rate):.1f}/min"


def minutes_to(trend: Trend, target: float) -> tuple[float, float, float] | None:
    """When the trend reaches `target`: (soonest, likely, latest) in minutes from its newest
    reading (latest is inf when the slope's range reaches 0); None when it is not heading
    there or already past it."""
    distance = target - trend.level
    if distance == 0 or trend.slope == 0 or (distance > 0) != (trend.slope > 0):
        return None
    likely = distance / trend.slope
    fast, slow = (trend.high, trend.low) if trend.slope > 0 else (trend.low, trend.high)
    soonest = distance / fast if fast and (distance > 0) == (fast > 0) else likely
    latest = distance / slow if slow and (distance > 0) == (slow > 0) else math.inf
    return min(soonest, likely), likely, max(latest, likely)


def eta_words(soonest: float, latest: float) -> str:
    """ "in 6-9 min", "in ~6 min", "in under a minute", "in 6 min or more"."""
    if latest < 1:
        return "in under a minute"
    first = max(1, math.floor(soonest + 0.01))  # 5.9999 is 6
    if math.isinf(latest) or latest > 120:
        return f"in {first} min or more"
    last = math.ceil(latest - 0.01)
    return f"in ~{last} min" if last <= first else f"in {first}-{last} min"


def told_words(trend: Trend, moving: str, unit: str, critical: float | None = None,
               limit: str = "") -> str:
    """The one way a trend is put in words, as told (since an onset, `Trend.told`): "rising
    2.0 °C/min", then ", limit <limit>" when given, then when `critical` comes (", critical in
    3-5 min"; "in under a minute" when the told level is already there or past it)."""
    told = trend.told
    words = f"{moving} {per_minute(told.slope, unit)}"
    if limit:
        words += f", limit {limit}"
    if critical is None:
        return words
    when = minutes_to(told, critical)
    return words + (f", critical {eta_words(when[0], when[2])}" if when is not None
                    else ", critical in under a minute")


def forecast(rule: Rule, severity: Severity | None, value: float | None,
             threshold: float | None, trend: Trend | None) -> str:
    """The words for a firing series' trend, or "" when it is not getting worse or has no
    good trend (after a step, until a trend exists again)."""
    if severity is None or value is None or trend is None or not trend.good \
            or abs(trend.slope) < STEADY:
        return ""
    below = threshold is not None and threshold in (rule.warn_below, rule.crit_below) and \
        threshold not in (rule.warn_above, rule.crit_above)
    below = below or (threshold is None and rule.below_only)
    worse = trend.slope < 0 if below else trend.slope > 0
    if not worse:
        return ""
    moving = "falling" if below else "rising"
    if severity is Severity.CRIT:
        return "still " + told_words(trend, moving, rule.unit)
    return told_words(trend, moving, rule.unit, rule.crit_below if below else rule.crit_above)
