"""The dew point formula against published values, and ASHRAE's moisture numbers."""

from __future__ import annotations

import pytest

from notifier.monitoring.moisture import ASHRAE_MOISTURE, dew_point, inputs_text


# Dew points of psychrometric tables (ASHRAE Handbook Fundamentals, ch. 1; the same values
# as NOAA's dew point calculator), rounded to 0.1 °C: (dry bulb °C, %RH, dew point °C).
@pytest.mark.parametrize(("temperature", "humidity", "expected"), [
    (25.0, 60.0, 16.7), (20.0, 50.0, 9.3), (30.0, 80.0, 26.2), (0.0, 50.0, -9.2),
    (24.0, 80.0, 20.3),
])
def test_dew_point_matches_published_values(temperature: float, humidity: float,
                                            expected: float) -> None:
    value = dew_point(temperature, humidity)
    assert value is not None and round(value, 1) == expected


def test_saturated_air_is_at_its_dew_point() -> None:
    assert dew_point(18.0, 100.0) == pytest.approx(18.0, abs=1e-9)


def test_dry_air_has_no_dew_point() -> None:
    assert dew_point(22.0, 0.0) is None
    assert dew_point(22.0, -3.0) is None


def test_inputs_are_said_rounded_with_units() -> None:
    assert inputs_text(24.04, 65.0) == "24 °C, 65 %RH"
    assert inputs_text(23.96, 41.25) == "24 °C, 41.2 %RH"


def test_ashrae_recommended_moisture_is_the_2021_reference_card() -> None:
    assert ASHRAE_MOISTURE["recommended"] == {"dp": (-9.0, 15.0), "rh": (None, 70.0)}
    assert ASHRAE_MOISTURE["a1"]["rh"] == (8.0, 80.0)
    assert ASHRAE_MOISTURE["a1"]["dp"][1] == 17.0
    # Allowable upper limits of every class (Table 2.1; H1 as cited in issue #26).
    assert {c: (ASHRAE_MOISTURE[c]["dp"][1], ASHRAE_MOISTURE[c]["rh"][1])
            for c in ("a1", "a2", "a3", "a4", "h1")} == {
        "a1": (17.0, 80.0), "a2": (21.0, 80.0), "a3": (24.0, 85.0), "a4": (24.0, 90.0),
        "h1": (17.0, 80.0)}


def test_readings_pair_by_series_and_for_charts_by_step() -> None:
    from datetime import UTC, datetime, timedelta

    from notifier.monitoring.engine import Reading
    from notifier.monitoring.sources import dew_point_readings

    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    later = t0 + timedelta(minutes=1)
    r1, r2 = {"room": "r1", "sensor": "s1"}, {"room": "r2", "sensor": "s1"}
    temperatures = [Reading(r1, 25.0, later), Reading(r2, 20.0, t0)]
    humidities = [Reading(r1, 60.0, t0), Reading(r2, 0.0, t0)]

    [latest] = dew_point_readings(temperatures, humidities, same_time=False)
    assert (latest.tags, round(latest.value, 1), latest.time, latest.inputs) == (
        r1, 16.7, t0, "25 °C, 60 %RH")  # r2: 0 %RH has no dew point
    assert dew_point_readings(temperatures, humidities, same_time=True) == []  # other steps
