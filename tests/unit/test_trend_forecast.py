"""Trend and time-to-critical (notifier/monitoring/trend.py): a least-squares slope over the
last minutes of readings, and the words on the card."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from notifier.alerts.events import Severity
from notifier.monitoring.rules import Rule
from notifier.monitoring.trend import RecentReadings, Trend, forecast, slope_per_minute
from tests.unit.clock import START

ABOVE = Rule(name="hot", measurement="temperature", warn_above=27.0, crit_above=32.0)
BELOW = Rule(name="cold", measurement="temperature", warn_below=18.0, crit_below=15.0)


def test_the_slope_is_per_minute() -> None:
    assert slope_per_minute([(0, 20.0), (60, 20.5), (120, 21.0)]) == pytest.approx(0.5)


def test_least_squares_through_noise() -> None:
    points = [(0, 20.0), (60, 20.6), (120, 20.8), (180, 21.6)]
    assert slope_per_minute(points) == pytest.approx(0.5, abs=0.05)


def test_too_few_points_or_no_spread_in_time_give_no_slope() -> None:
    assert slope_per_minute([(0, 20.0), (60, 21.0)]) is None
    assert slope_per_minute([(60, 20.0), (60, 21.0), (60, 22.0)]) is None


def test_recent_readings_keep_the_window_before_the_newest_and_skip_repeats() -> None:
    readings = RecentReadings(window=300.0)
    for minute, value in [(0, 10.0), (10, 20.0), (11, 20.5), (12, 21.0), (12, 99.0)]:
        readings.add("hot", "k", START + timedelta(minutes=minute), value)
    # The point at minute 0 is outside the window; the second point at minute 12 is a repeat.
    assert readings.slope("hot", "k") == pytest.approx(0.5)
    assert readings.slope("hot", "other") is None


def test_readings_of_removed_rules_are_forgotten() -> None:
    readings = RecentReadings()
    for minute in range(3):
        readings.add("hot", "k", START + timedelta(minutes=minute), 20.0 + minute)
    readings.keep_rules({"cold"})
    assert readings.slope("hot", "k") is None


def exact(slope: float | None, level: float) -> Trend | None:
    """A good trend known exactly (its range is the slope itself), at `level` now."""
    if slope is None:
        return None
    return Trend(slope=slope, low=slope, high=slope, level=level, readings=10, span=300.0,
                 noise=0.0, good=True, stepped=False)


def test_a_rising_warning_says_when_it_becomes_critical() -> None:
    assert forecast(ABOVE, Severity.WARN, 29.0, 27.0, exact(0.5, 29.0)) == \
        "rising 0.5 °C/min, critical in ~6 min"


def test_under_a_minute_to_critical() -> None:
    assert forecast(ABOVE, Severity.WARN, 31.8, 27.0, exact(0.5, 31.8)) == \
        "rising 0.5 °C/min, critical in under a minute"


def test_a_critical_still_getting_worse_says_so() -> None:
    assert forecast(ABOVE, Severity.CRIT, 33.0, 32.0, exact(0.3, 33.0)) == \
        "still rising 0.3 °C/min"


@pytest.mark.parametrize("severity,slope", [(Severity.WARN, 0.01), (Severity.WARN, -0.5),
                                            (None, 0.5), (Severity.WARN, None)])
def test_steady_recovering_or_unknown_gets_no_forecast(severity: Severity | None,
                                                        slope: float | None) -> None:
    assert forecast(ABOVE, severity, 29.0, 27.0, exact(slope, 29.0)) == ""


def test_a_trend_that_is_not_good_is_not_put_in_words() -> None:
    trend = exact(0.5, 29.0)
    assert trend is not None
    assert forecast(ABOVE, Severity.WARN, 29.0, 27.0, replace(trend, good=False)) == ""


def test_a_falling_series_under_a_below_threshold() -> None:
    assert forecast(BELOW, Severity.WARN, 17.0, 18.0, exact(-0.5, 17.0)) == \
        "falling 0.5 °C/min, critical in ~4 min"
    assert forecast(BELOW, Severity.WARN, 17.0, 18.0, exact(0.5, 17.0)) == ""  # warming up


def onset_series(rate: float, flat: int = 12, rising: int = 4, every: float = 15.0,
                 noise: tuple[float, ...] = (0.03, -0.04, 0.02, -0.01, 0.04, -0.03)) -> RecentReadings:
    """22 °C with a little noise for `flat` readings, then a rise of `rate` per minute."""
    readings = RecentReadings()
    for n in range(flat + rising + 1):
        t = n * every
        value = 22.0 + noise[n % len(noise)] + max(0.0, rate * (t - flat * every) / 60)
        readings.add("hot", "k", START + timedelta(seconds=t), value)
    return readings


def test_a_fast_onset_is_told_at_its_own_rate_not_the_windows_median() -> None:
    trend = onset_series(2.0).trend("hot", "k")
    assert trend is not None and trend.good
    assert trend.slope < 1.5  # the window's median still holds the flat minutes
    assert trend.told.slope == pytest.approx(2.0, abs=0.15)
    assert trend.arrow == trend.told.slope
    rising = forecast(ABOVE, Severity.WARN, 24.0, 27.0, trend)
    assert rising.startswith("rising 2.0 °C/min, critical in ")

