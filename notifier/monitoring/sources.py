"""Where readings come from: one query per rule per poll returns the latest point of every series.

Two implementations: `notifier.monitoring.influxql` (InfluxDB 1.x and 3.x, HTTP `/query`) and
`notifier.monitoring.flux` (InfluxDB 2.x and Cloud, influxdb-client's async client).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from common.clock import utcnow
from common.errors import HeatWatchError
from common.settings import InfluxSettings, QueryLanguage
from notifier.monitoring.engine import Reading
from notifier.monitoring.moisture import dew_point, inputs_text
from notifier.monitoring.rules import Rule


class Failure(StrEnum):
    UNREACHABLE = "unreachable"
    AUTH = "auth"
    NOT_FOUND = "not-found"
    BAD_QUERY = "bad-query"
    SERVER = "server"


class SourceError(HeatWatchError):
    """A query failed. `failure` says how; `per_rule` failures concern one rule's query only
    (the source itself works); all others mean the source is down for every rule."""

    def __init__(self, failure: Failure, message: str) -> None:
        super().__init__(message)
        self.failure = failure

    @property
    def per_rule(self) -> bool:
        return self.failure is Failure.BAD_QUERY


class TemperatureSource(Protocol):
    description: str

    async def latest(self, rule: Rule) -> list[Reading]:
        """The newest point of each series of `rule` within `rule.lookback`."""
        ...

    async def history(self, rule: Rule, series: list[dict[str, str]], seconds: int,
                      step: int) -> list[Reading]:
        """The extreme of each of `series` (tags of `rule.group_by`) per `step` seconds over
        the last `seconds` (`chart_aggregate`), in one query: the points of a chart. A point's
        time is the start of its `step`."""
        ...

    async def close(self) -> None: ...


def dew_point_readings(temperatures: list[Reading], humidities: list[Reading],
                       same_time: bool) -> list[Reading]:
    """The dew point of each series from its temperature and humidity readings (the two
    fields of one query). Latest points (`same_time` False) pair by series and take the older
    time of the two; a chart's means pair by series and step."""
    def slot(reading: Reading) -> tuple[str, datetime | None]:
        return reading.key, reading.time if same_time else None

    humidity = {slot(reading): reading for reading in humidities}
    readings: list[Reading] = []
    for temperature in temperatures:
        other = humidity.get(slot(temperature))
        if other is None:
            continue
        value = dew_point(temperature.value, other.value)
        if value is not None:  # to 0.01 °C, as the chart draws it and the card says it
            readings.append(Reading(tags=temperature.tags, value=round(value, 2),
                                    key=temperature.key,
                                    time=min(temperature.time, other.time),
                                    inputs=inputs_text(temperature.value, other.value)))
    return readings
def chart_aggregate(rule: Rule) -> str:
    """How a chart step sums up its readings: the hot side's extreme (`max`; `min` for a rule
    with only `below` thresholds), so a spike is not averaged away: a chart of 30 s means
    showed 26 °C for a series whose card said 32.4 °C."""
    return "min" if rule.below_only else "max"


def build_source(influx: InfluxSettings) -> TemperatureSource:
    """The source for the configured query language (its client library imported on demand)."""
    if influx.language is QueryLanguage.FLUX:
        from notifier.monitoring.flux import FluxSource

        return FluxSource(influx.url, influx.org, influx.bucket, influx.token, influx.timeout)
    from notifier.monitoring.influxql import InfluxQLSource

    return InfluxQLSource(influx.url, influx.database, token=influx.token,
                          username=influx.username, password=influx.password,
                          timeout=influx.timeout)


def history_reader(source: TemperatureSource, rules: list[Rule]) -> Callable[
        [str, list[dict[str, str]], int, int], Awaitable[dict[str, list[tuple[datetime, float]]]]]:
    """What charts read: points by series key for a rule named in `rules` (the live list,
    kept current by a rules reload); a rule no longer there has none."""
    async def read(rule_name: str, series: list[dict[str, str]], seconds: int,
                   step: int) -> dict[str, list[tuple[datetime, float]]]:
        rule = next((r for r in rules if r.name == rule_name), None)
        if rule is None:
            return {}
        points: dict[str, list[tuple[datetime, float]]] = {}
        now = utcnow()
        for reading in await source.history(rule, series, seconds, step):
            # A step's extreme stands for the middle of its step (the step still filling: for
            # now), or a fast rise would show one step late.
            at = min(reading.time + timedelta(seconds=step / 2), now)
            points.setdefault(reading.key, []).append((at, reading.value))
        return points

    return read
