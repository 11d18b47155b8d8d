"""Where readings come from: one query per rule per poll returns the latest point of every series.

Two implementations: `notifier.monitoring.influxql` (InfluxDB 1.x and 3.x, HTTP `/query`) and
`notifier.monitoring.flux` (InfluxDB 2.x and Cloud, influxdb-client's async client).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from common.errors import HeatWatchError
from common.settings import InfluxSettings, QueryLanguage
from notifier.monitoring.engine import Reading
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

    async def close(self) -> None: ...


def build_source(influx: InfluxSettings) -> TemperatureSource:
    """The source for the configured query language (its client library imported on demand)."""
    if influx.language is QueryLanguage.FLUX:
        from notifier.monitoring.flux import FluxSource

        return FluxSource(influx.url, influx.org, influx.bucket, influx.token, influx.timeout)
    from notifier.monitoring.influxql import InfluxQLSource

    return InfluxQLSource(influx.url, influx.database, token=influx.token,
                          username=influx.username, password=influx.password,
                          timeout=influx.timeout)
