"""The detection arithmetic on its own: the robust trend (Theil–Sen with outliers and steps
left out), its forecast, and the rate and forecast levels of a rule, on generated series with
known slopes, noise and steps."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from notifier.alerts.events import EventKind, Severity
from notifier.monitoring.engine import RATE_HOLD, Reading, SeriesState, rate_level, step
from notifier.monitoring.rules import Rate, parse_rules
from notifier.monitoring.trend import (
    RecentReadings,
    Trend,
    cause_hint,
    clean,
    estimate,
    forecast,
    minutes_to,
    onset,
)

EVERY = 15.0  # seconds between readings (the default poll)


def series(slope: float, minutes: float = 5, noise: float = 0.0, seed: int = 1,
           start: float = 22.0, step_at: float | None = None, step: float = 0.0,
           spike_at: float | None = None, spike: float = 0.0) -> list[tuple[float, float]]:
    """(seconds, value): a line rising `slope` per minute with Gaussian noise, an optional step
    (from minute `step_at` on) and an optional single spike (at minute `spike_at`)."""
    rng = random.Random(seed)
    points = []
    for i in range(int(minutes * 60 / EVERY) + 1):
        t = i * EVERY
        value = start + slope * t / 60 + rng.gauss(0, noise)
        if step_at is not None and t >= step_at * 60:
            value += step
        if spike_at is not None and t == spike_at * 60:
            value += spike
        points.append((t, value))
    return points


@pytest.mark.parametrize("slope", [0.1, 0.5, 1.2, -0.4])
def test_a_noisy_line_gives_its_slope_and_a_range_that_holds_it(slope: float) -> None:
    covered = 0
    for seed in range(40):
        trend = estimate(series(slope, noise=0.1, seed=seed))
        assert trend is not None and (trend.good or abs(slope) < 0.2)
        assert trend.slope == pytest.approx(slope, abs=0.06)
        covered += trend.low <= slope <= trend.high
    assert covered >= 34  # a 95 % range: at least 85 % of 40 noisy lines


def test_noise_alone_is_no_good_trend() -> None:
    for seed in range(10):
        trend = estimate(series(0.0, noise=0.2, seed=seed))
        assert trend is not None and not trend.good, seed


@pytest.mark.parametrize("at", [1.0, 2.5, 4.0])
def test_a_step_is_not_a_trend(at: float) -> None:
    # A probe moved (or a door opened beside it): +5 °C at once. Least squares said "rising
    # 62.2 °C/min"; here there is no good trend until readings after the step make one.
    trend = estimate(series(0.0, noise=0.05, step_at=at, step=5.0))
    assert trend is None or (trend.stepped and abs(trend.slope) < 0.2)
    if trend is not None and trend.good:
        pytest.fail(f"a step made a good trend: {trend}")


def test_a_trend_after_a_step_is_the_trend_after_it() -> None:
    trend = estimate(series(0.5, minutes=8, noise=0.05, step_at=2, step=4.0))
    assert trend is not None and trend.good and trend.stepped
    assert trend.slope == pytest.approx(0.5, abs=0.05)


def test_the_newest_reading_jumping_is_no_trend_until_confirmed() -> None:
    points = series(0.0, noise=0.05)
    points[-1] = (points[-1][0], points[-1][1] + 8.0)
    assert estimate(points) is None


@pytest.mark.parametrize("at", [1.0, 2.5, 4.5])
def test_a_single_spike_moves_nothing(at: float) -> None:
    trend = estimate(series(0.3, noise=0.05, spike_at=at, spike=8.0))
    assert trend is not None and trend.good and trend.stepped
    assert trend.slope == pytest.approx(0.3, abs=0.03)


@pytest.mark.parametrize("seed", range(8))
def test_the_forecast_at_five_minutes_is_within_a_quarter(seed: int) -> None:
    # Noisy linear rises: the time to a level 5 minutes ahead, told within 25 %.
    slope = 0.3 + 0.1 * seed
    trend = estimate(series(slope, noise=0.15, seed=seed))
    assert trend is not None and trend.good
    target = 22.0 + slope * 10  # the line is there 5 minutes after its newest reading
    when = minutes_to(trend, target)
    assert when is not None
    soonest, likely, latest = when
    assert likely == pytest.approx(5.0, rel=0.25)
    assert soonest <= likely <= latest


RULE_TEXT = """
[[rule]]
name = "room"
measurement = "temperature"
warn_above = 27.0
crit_above = 32.0
rise_warn = "5/15m"
rise_crit = "15/15m"
forecast_within = "10m"
"""
RULE = parse_rules(RULE_TEXT)[0]


def test_rates_read_as_written() -> None:
    assert RULE.rise_warn == Rate(5.0, 900.0) and RULE.rise_crit == Rate(15.0, 900.0)
    assert RULE.rise_warn.per_minute == pytest.approx(1 / 3)
    assert RULE.rise_warn.words("°C") == "5 °C per 15 min"
    assert Rate(20.0, 3600.0).words("°C") == "20 °C per 1 h"


def recent(points: list[tuple[float, float]]) -> Trend | None:
    """The trend as the poller has it: the steeper of 5 minutes and their last 2."""
    readings = RecentReadings()
    t0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    for t, value in points:
        readings.add("room", "k", t0 + timedelta(seconds=t), value)
    return readings.trend("room", "k")


def test_a_fast_rise_pages_by_its_rate_and_says_what_fired() -> None:
    assert rate_level(RULE, recent(series(1.2, noise=0.05)), None, "") == (
        Severity.CRIT, "rising 1.2 °C/min, limit 15 °C per 15 min")
    level, words = rate_level(RULE, estimate(series(0.5, noise=0.05)), None, "")
    # 22 °C + 2.5 °C in 5 minutes: critical (32 °C) in about 15 minutes, with the range.
    assert level is Severity.WARN
    assert re.fullmatch(r"rising 0\.5 °C/min, limit 5 °C per 15 min, critical in 1[3-5]-1[5-8] min",
                        words), words


def test_a_slow_drift_under_the_limits_is_no_rate_level() -> None:
    # 0.1 °C/min from 22 °C: critical 32 °C is 100 minutes away; under both rates.
    assert rate_level(RULE, estimate(series(0.1, noise=0.05)), None, "") == (None, "")


def test_a_forecast_warns_before_any_threshold() -> None:
    # 0.25 °C/min from 22 °C ends near 23.25 °C: critical (32 °C) is 35 minutes away.
    far = estimate(series(0.25, noise=0.05))
    assert rate_level(RULE, far, None, "") == (None, "")
    near = estimate(series(0.3, noise=0.05, start=28.0))  # ends at 29.5, 32 in ~8 min
    level, words = rate_level(RULE, near, None, "")
    assert level is Severity.WARN and words.startswith("rising 0.3 °C/min, critical in ")


def test_an_active_rate_level_holds_without_a_trend_and_ends_with_the_rise() -> None:
    assert rate_level(RULE, None, Severity.WARN, "rising …") == (Severity.WARN, "rising …")
    assert rate_level(RULE, estimate(series(0.0, noise=0.05)), Severity.WARN,
                      "rising …") == (None, "")


def test_the_engine_fires_on_the_rate_with_its_words_and_no_threshold() -> None:
    t0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    state = SeriesState(rule="room", key="k")
    points = series(1.2, noise=0.05, start=18.0)
    trend = recent(points)
    at = t0 + timedelta(seconds=points[-1][0])
    events, _ = step(RULE, state, Reading({"room": "a", "sensor": "s"}, points[-1][1], at),
                     at, trend)
    [fired] = events
    assert fired.kind is EventKind.FIRED and fired.threshold is None
    assert "limit" in fired.forecast and fired.value is not None and fired.value < 27


def test_a_fast_onset_is_seen_in_two_minutes_but_a_critical_rate_needs_five() -> None:
    # Flat for 4 minutes, then 1.2 °C/min for 1.5: the 5-minute median is not there yet.
    points = [(t, 22.0 + max(0.0, t - 240) / 60 * 1.2) for t, _ in series(0.0, minutes=5.5)]
    whole = estimate(points)
    assert whole is not None and whole.slope < 1 / 3
    trend = recent(points)
    assert trend is not None and trend.slope == pytest.approx(1.2, abs=0.05)
    assert rate_level(RULE, trend, None, "")[0] is Severity.WARN  # not critical yet


def test_the_forecast_words_need_a_good_trend() -> None:
    stepped = estimate(series(0.0, noise=0.05, step_at=4.0, step=5.0))
    assert forecast(RULE, Severity.WARN, 28.0, 27.0, stepped) == ""


@pytest.mark.parametrize(("slopes", "hint"), [
    ([1.2] * 6 + [0.4, None], "fast rise in 7 of 8 sensors: cooling failure?"),
    ([1.2, 0.0, 0.01, None, None], "fast rise in 1 of 5 sensors: a local hot spot?"),
    ([0.1, 0.12, None, 0.0], "slow drift in 2 of 4 sensors: cooling not keeping up?"),
    ([None, 0.0, -0.5], ""),
])
def test_the_shape_of_the_curves_hints_at_the_cause(slopes: list[float | None],
                                                    hint: str) -> None:
    assert cause_hint(slopes, 1 / 3) == hint


def door_open(t: float) -> float:
    """+2.5 °C over a minute from minute 5, held a minute, back over three (a door opened
    beside the probe)."""
    minute = t / 60 - 5
    if minute < 0 or minute > 5:
        return 22.0
    return 22.0 + (2.5 * min(1.0, minute) if minute <= 2 else 2.5 * (1 - (minute - 2) / 3))


def hot_spot(t: float) -> float:
    """+8 °C over 6 minutes from minute 5, then held (one rack's exhaust)."""
    return 22.0 + min(8.0, max(0.0, t / 60 - 5) * 8 / 6)


def first_page(shape: Callable[[float], float], shared: bool, seed: int = 1) -> float | None:
    """The minute of the first event of a series read every 15 s for 15 minutes, judged as a
    rise its room shares or not; None for no page."""
    rng = random.Random(seed)
    readings, state = RecentReadings(), SeriesState(rule="room", key="k")
    t0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    for i in range(61):
        at = t0 + timedelta(seconds=i * EVERY)
        value = shape(i * EVERY) + rng.gauss(0, 0.05)
        readings.add("room", "k", at, value)
        events, _ = step(RULE, state, Reading({"room": "a", "sensor": "s"}, value, at), at,
                         readings.trend("room", "k"), shared=shared)
        if events:
            return i * EVERY / 60
    return None


@pytest.mark.parametrize("seed", range(5))
def test_a_door_open_transient_of_a_minute_pages_only_when_the_room_shares_it(
        seed: int) -> None:
    # Its first minute is a cooling failure's: a rise the whole room shows pages at once...
    shared = first_page(door_open, shared=True, seed=seed)
    assert shared is not None and shared < 6.5
    # ...one that two probes show alone must go on for a minute, and this one stops.
    assert first_page(door_open, shared=False, seed=seed) is None


@pytest.mark.parametrize("seed", range(5))
def test_a_rise_of_its_own_that_goes_on_pages_a_minute_later(seed: int) -> None:
    shared = first_page(hot_spot, shared=True, seed=seed)
    alone = first_page(hot_spot, shared=False, seed=seed)
    assert shared is not None and alone is not None
    assert alone - shared == pytest.approx(RATE_HOLD.total_seconds() / 60, abs=0.26)
    assert hot_spot(alone * 60) < 27.0  # still before the threshold


def test_a_series_polled_every_second_still_has_a_trend_of_minutes() -> None:
    readings = RecentReadings()
    t0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    for second in range(301):  # 5 minutes at 1 s: 1.2 °C/min
        readings.add("room", "k", t0 + timedelta(seconds=second), 22.0 + 1.2 * second / 60)
    points = readings.points("room", "k")
    assert points[-1] == (t0.timestamp() + 300, 28.0)  # the newest reading is kept
    assert points[-1][0] - points[0][0] >= 240  # minutes, not the last 40 s
    trend = readings.trend("room", "k")
    assert trend is not None and trend.good and trend.slope == pytest.approx(1.2, abs=0.01)


def test_a_level_the_rate_reached_crossed_no_threshold_whatever_the_hysteresis() -> None:
    [rule] = parse_rules(RULE_TEXT.replace("forecast_within", 'hysteresis = 1.0\nfor = "4m"\n'
                                           'forecast_within'))
    t0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    points = series(0.6, minutes=6.5, noise=0.02, start=23.0)  # ends near 26.9 °C
    state = SeriesState(rule="room", key="k")
    readings = RecentReadings()
    fired = []
    for t, value in points:
        at = t0 + timedelta(seconds=t)
        readings.add("room", "k", at, value)
        fired += step(rule, state, Reading({"room": "a", "sensor": "s"}, value, at), at,
                      readings.trend("room", "k"))[0]
    # Pending on the rate from about 24 °C for 4 minutes: it fires inside the hysteresis band
    # of a 27 °C threshold it never crossed, and says so: on the rate, no threshold. (Its card
    # follows the newer readings after a minute: `reading` events, not a second alert.)
    [event] = [e for e in fired if e.kind is not EventKind.READING]
    assert event.value is not None and 26.0 < event.value < 27.0
    assert event.threshold is None and "limit 5 °C per 15 min" in event.forecast


def onset_then(rate: float, seed: int = 1, flat: float = 3.0, after: float = 1.0,
               noise: float = 0.05) -> list[tuple[float, float]]:
    """22 °C with noise for `flat` minutes, then `rate` per minute for `after` minutes."""
    rng = random.Random(seed)
    return [(t, 22.0 + rng.gauss(0, noise) + rate * max(0.0, t - flat * 60) / 60)
            for t in (i * EVERY for i in range(int((flat + after) * 60 / EVERY) + 1))]


@pytest.mark.parametrize("slope", [0.1, 0.5, 1.2, -0.4])
def test_a_noisy_straight_line_has_no_onset(slope: float) -> None:
    for seed in range(1, 21):
        points = series(slope, noise=0.05, seed=seed)
        assert onset(clean(points)[0]) is None, seed
        trend = recent(points)
        assert trend is not None and trend.since is None and trend.told is trend, seed


def test_a_falling_onset_is_told_at_its_own_rate() -> None:
    [cold] = parse_rules('[[rule]]\nname = "cold"\nmeasurement = "temperature"\n'
                         'warn_below = 18.0\ncrit_below = 15.0\nrise_warn = "5/15m"\n')
    trend = recent(onset_then(-2.0))
    assert trend is not None and trend.since is not None
    assert trend.slope > -1.5 and trend.told.slope == pytest.approx(-2.0, abs=0.25)
    level, words = rate_level(cold, trend, None, "")
    assert level is Severity.WARN
    assert re.match(r"falling [12]\.\d °C/min, limit 5 °C per 15 min, critical in ", words), words
    assert words.startswith(f"falling {abs(trend.told.slope):.1f} °C/min")


def test_an_onset_changes_the_words_never_what_pages() -> None:
    """A trend under rise_warn and far from critical does not page, however steep the
    readings since an onset; the same onset on a trend over the limit is told at its rate."""
    since = Trend(slope=2.0, low=1.8, high=2.2, level=23.0, readings=4, span=45.0, noise=0.05,
                  good=True, stepped=False)
    slow = Trend(slope=0.2, low=0.1, high=0.3, level=23.0, readings=12, span=300.0,
                 noise=0.05, good=True, stepped=False, since=since)
    assert rate_level(RULE, slow, None, "") == (None, "")
    fast = Trend(slope=0.4, low=0.3, high=0.5, level=23.0, readings=12, span=300.0,
                 noise=0.05, good=True, stepped=False, since=since)
    assert rate_level(RULE, fast, None, "") == (
        Severity.WARN, "rising 2.0 °C/min, limit 5 °C per 15 min, critical in 4-5 min")
