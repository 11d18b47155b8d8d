"""Moisture: the dew point computed from a temperature and a relative humidity, and ASHRAE's
moisture limits.

No sensor reports the dew point; condensation and the ASHRAE envelope are judged on it. The
formula is the Magnus form with the coefficients of Alduchov & Eskridge (1996), "Improved
Magnus Form Approximation of Saturation Vapor Pressure", J. Appl. Meteor. 35, 601-609
(b = 17.625, c = 243.04 °C; better than 0.4 % in saturation vapour pressure over -40..50 °C):

    gamma = ln(RH / 100) + b * T / (c + T)
    Td    = c * gamma / (b - gamma)

Decisions where the issue was silent: a humidity at or below 0 %RH has no dew point (the series
has no value that poll, as if no point came); a humidity a little above 100 % (sensor error) is
used as it is (the dew point comes out a little above the temperature). A dew point is as old
as the older of its two inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAGNUS_B = 17.625  # Alduchov & Eskridge 1996
MAGNUS_C = 243.04  # °C, Alduchov & Eskridge 1996

# ASHRAE TC 9.9, Thermal Guidelines for Data Processing Environments, 5th ed. (2021), reference
# card, Table 2.1 (air cooling, SI): the moisture side of the envelope, for dew point rules
# ("dp", °C) and relative humidity rules ("rh", %RH). Recommended (classes A1-A4): -9 °C DP to
# 15 °C DP and 70 %RH (50 %RH where the gaseous pollutants exceed the card's corrosion coupon
# limits). Allowable, every class from -12 °C DP and 8 %RH, up to: A1 17 °C DP and 80 %RH,
# A2 21 °C DP and 80 %RH, A3 24 °C DP and 85 %RH, A4 24 °C DP and 90 %RH. Checked against a
# public copy of the card (scribd.com/document/585450988/referencecard-2021thermalguidelines).
# H1 (Table 2.2, high-density equipment): 17 °C DP and 80 %RH as cited in issue #26; that row
# was not in the public copy read, so it is unconfirmed here (docs/rules.md says so).
# The temperature side and the rule presets belong to the detection rules
# (monitoring/rules.py PRESETS); these numbers are here for them and for docs/rules.md.
ASHRAE_MOISTURE: dict[str, dict[str, tuple[float | None, float | None]]] = {
    "recommended": {"dp": (-9.0, 15.0), "rh": (None, 70.0)},
    "a1": {"dp": (-12.0, 17.0), "rh": (8.0, 80.0)},
    "a2": {"dp": (-12.0, 21.0), "rh": (8.0, 80.0)},
    "a3": {"dp": (-12.0, 24.0), "rh": (8.0, 85.0)},
    "a4": {"dp": (-12.0, 24.0), "rh": (8.0, 90.0)},
    "h1": {"dp": (-12.0, 17.0), "rh": (8.0, 80.0)},
}


@dataclass(frozen=True)
class DewPointFields:
    """The two fields of one series a dew point rule reads (`dew_point = { temperature =
    "...", humidity = "..." }`): a temperature in °C and a relative humidity in %."""

    temperature: str
    humidity: str


def dew_point(temperature: float, humidity: float) -> float | None:
    """The dew point in °C of air at `temperature` °C and `humidity` %RH, or None when the
    humidity is 0 or less (or the inputs make no air: T at or below -c)."""
    if humidity <= 0 or temperature <= -MAGNUS_C:
        return None
    gamma = math.log(humidity / 100.0) + MAGNUS_B * temperature / (MAGNUS_C + temperature)
    if gamma >= MAGNUS_B:
        return None
    return MAGNUS_C * gamma / (MAGNUS_B - gamma)


def inputs_text(temperature: float, humidity: float) -> str:
    """What a dew point was computed from, as the card says it: "24.1 °C, 65 %RH"."""
    return f"{round(temperature, 1):g} °C, {round(humidity, 1):g} %RH"
