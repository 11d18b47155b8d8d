"""Excursion minutes counted by hand on step means (the pure part of the exposure report)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifier.alerts.record import AlertRecord, IncidentSnapshot
from notifier.monitoring.engine import Reading
from notifier.monitoring.exposure import (
    ExposureReport,
    count_exposure,
    level,
    response_times,
    step_for,
)
from notifier.monitoring.rules import parse_rules

RULE = parse_rules('[[rule]]\nname = "hot"\nmeasurement = "t"\nwarn_above = 27.0\n'
                   'crit_above = 32.0\n')[0]
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def minute(m: int) -> datetime:
    return T0 + timedelta(minutes=m)


def series(room: str, sensor: str, values: list[float]) -> list[Reading]:
    return [Reading({"room": room, "sensor": sensor}, v, minute(m)) for m, v in enumerate(values)]


def test_a_room_is_outside_when_any_of_its_sensors_is() -> None:
    readings = (series("r1", "s1", [25, 28, 28, 33, 25, 25, 28, 25])
                + series("r1", "s2", [25, 25, 28, 28, 28, 25, 25, 25])
                + series("r2", "s1", [27, 20, 20, 20, 20, 20, 20, 32]))

    rows, runs = count_exposure(RULE, readings, 60)

    by_room = {row.room: row for row in rows}
    # r1: minutes 1-4 and 6 outside recommended (5 min), minute 3 outside allowable.
    assert (by_room["r1"].recommended, by_room["r1"].allowable, by_room["r1"].covered) == (
        5, 1, 8)
    # r2: thresholds are inclusive: 27 is a warning minute, 32 a critical one.
    assert (by_room["r2"].recommended, by_room["r2"].allowable) == (2, 1)
    r1_runs = sorted((r.start, r.minutes, r.peak, r.allowable) for r in runs if r.room == "r1")
    assert r1_runs == [(minute(1), 4, 33, True), (minute(6), 1, 28, False)]


def test_a_room_outside_two_rules_at_once_counts_each_minute_once() -> None:
    humid = parse_rules('[[rule]]\nname = "rh"\nmeasurement = "h"\nunit = "%RH"\n'
                        'warn_above = 70.0\n')[0]
    report = ExposureReport(T0, minute(10), 60)
    report.rooms += count_exposure(RULE, series("r1", "s1", [28, 28, 25, 25]), 60)[0]
    report.rooms += count_exposure(humid, series("r1", "s1", [60, 75, 75, 60]), 60)[0]
    assert [(r.rule, r.recommended) for r in report.rooms] == [("hot", 2), ("rh", 2)]
    assert report.minutes_by_room() == {"r1": 3}


def test_rate_of_change_counts_steps_past_the_ashrae_limits() -> None:
    values = [20.0] * 16 + [25.5] + [25.5] * 3  # +5.5 °C in 15 min at minute 16
    [row], _ = count_exposure(RULE, series("r1", "s1", values), 60)
    # minutes 16..19 are 5.5 °C above 15 minutes before (minutes 1..4 at 20 °C)
    assert row.rate == 4


def test_a_dew_point_rule_has_no_rate_of_change() -> None:
    rule = parse_rules('[[rule]]\nname = "dp"\nmeasurement = "c"\ncrit_above = 17.0\n'
                       'dew_point = { temperature = "t", humidity = "h" }\n')[0]
    [row], _ = count_exposure(rule, series("r1", "s1", [10.0, 18.0]), 60)
    assert (row.rate, row.recommended, row.allowable) == (None, 1, 1)


def test_levels_and_steps() -> None:
    assert [level(RULE, v) for v in (26.9, 27.0, 31.9, 32.0)] == [
        None, "recommended", "recommended", "allowable"]
    assert step_for(3600) == 60 and step_for(7 * 86400) == 60 and step_for(30 * 86400) == 300


def test_mtta_and_time_to_resolve_per_severity() -> None:
    def incident(alert_id: str, peak: float, opened: int, acked: int | None,
                 ended: int | None) -> AlertRecord:
        event = {"since": minute(opened).isoformat(), "peak": peak,
                 "ended_at": minute(ended).isoformat() if ended is not None else None}
        return AlertRecord(alert_id, "hot", IncidentSnapshot.from_json(event), "Dana" if acked is not None else None,
                           minute(acked) if acked is not None else None)

    records = [incident("a", 33.0, 10, 12, 30), incident("b", 34.0, 40, 44, None),
               incident("c", 28.0, 50, None, 55), incident("old", 40.0, -5, -4, 0)]
    [crit, warn] = response_times({"hot": RULE}, records, minute(0))
    assert (crit.severity, crit.incidents, crit.acknowledged, crit.mtta) == ("crit", 2, 2, 180)
    assert (crit.resolved, crit.time_to_resolve) == (1, 1200)
    assert (warn.severity, warn.incidents, warn.mtta, warn.time_to_resolve) == (
        "warn", 1, None, 300)


def test_a_broken_probe_s_readings_are_no_excursion() -> None:
    """85 °C is outside the rule's plausible range (-20..80 °C): a probe fault, not heat."""
    readings = (series("r1", "s1", [25, 85, 85, 85, 25])
                + series("r1", "s2", [25, 25, 28, 25, 25]))
    rows, runs = count_exposure(RULE, readings, 60)
    assert (rows[0].recommended, rows[0].allowable) == (1, 0)
    assert [(r.minutes, r.peak) for r in runs] == [(1, 28)]
