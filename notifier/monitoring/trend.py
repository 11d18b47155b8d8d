"""Rate of rise and time-to-critical, from the readings the poller already has.

The poller keeps each series' readings of the last few minutes (`RecentReadings`); the slope is a
least-squares fit over them, in units per minute. A warning series rising toward its critical
threshold gets a forecast ("rising 0.4 °C/min, critical in ~6 min"); a critical one still getting
worse says so ("still rising 0.4 °C/min"); a steady or recovering one gets none. Kept in memory:
after a restart the trend is back after a few polls.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from datetime import datetime

from notifier.alerts.events import Severity
from notifier.monitoring.rules import Rule

WINDOW_SECONDS = 300.0  # readings older than this do not count toward the trend
MAX_READINGS = 40  # per series (a 5 s poll fills 5 min with 60; every other one is plenty)
MIN_READINGS = 3
STEADY = 0.05  # units per minute below which a series counts as steady


def slope_per_minute(points: Iterable[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value) points, in units per minute; None with fewer
    than MIN_READINGS points or no spread in time."""
    data = list(points)
    n = len(data)
    if n < MIN_READINGS:
        return None
    mean_t = sum(t for t, _ in data) / n
    mean_v = sum(v for _, v in data) / n
    spread = sum((t - mean_t) ** 2 for t, _ in data)
    if spread <= 0:
        return None
    covariance = sum((t - mean_t) * (v - mean_v) for t, v in data)
    return covariance / spread * 60.0


class RecentReadings:
    """The last few minutes of readings of each series, by (rule, series key)."""

    def __init__(self, window: float = WINDOW_SECONDS, limit: int = MAX_READINGS) -> None:
        self._window = window
        self._limit = limit
        self._points: dict[tuple[str, str], deque[tuple[float, float]]] = {}

    def add(self, rule: str, key: str, time: datetime, value: float) -> None:
        points = self._points.get((rule, key))
        if points is None:
            points = self._points[(rule, key)] = deque(maxlen=self._limit)
        stamp = time.timestamp()
        if points and stamp <= points[-1][0]:
            return  # the same point again (a series that did not report since)
        points.append((stamp, value))

    def slope(self, rule: str, key: str) -> float | None:
        """The series' trend over the window before its newest reading."""
        points = self._points.get((rule, key))
        if not points:
            return None
        start = points[-1][0] - self._window
        while points and points[0][0] < start:
            points.popleft()
        return slope_per_minute(points)

    def keep_rules(self, names: set[str]) -> None:
        """Forget the series of rules no longer configured."""
        self._points = {k: v for k, v in self._points.items() if k[0] in names}


def _per_minute(rate: float, unit: str) -> str:
    return f"{abs(rate):.1f} {unit}/min" if unit else f"{abs(rate):.1f}/min"


def forecast(rule: Rule, severity: Severity | None, value: float | None,
             threshold: float | None, slope: float | None) -> str:
    """The words for a firing series' trend, or "" when it is not getting worse."""
    if severity is None or value is None or slope is None or abs(slope) < STEADY:
        return ""
    below = threshold is not None and threshold in (rule.warn_below, rule.crit_below) and \
        threshold not in (rule.warn_above, rule.crit_above)
    worse = slope < 0 if below else slope > 0
    if not worse:
        return ""
    moving = "falling" if below else "rising"
    rate = _per_minute(slope, rule.unit)
    critical = rule.crit_below if below else rule.crit_above
    if severity is Severity.CRIT or critical is None:
        return f"still {moving} {rate}" if severity is Severity.CRIT else f"{moving} {rate}"
    minutes = abs(critical - value) / abs(slope)
    if minutes < 1:
        return f"{moving} {rate}, critical in under a minute"
    return f"{moving} {rate}, critical in ~{math.ceil(minutes)} min"
