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
