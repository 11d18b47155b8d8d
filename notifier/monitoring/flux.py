"""Flux through influxdb-client's async client, for InfluxDB 2.x and InfluxDB Cloud.

One query per rule: range over the lookback, filter measurement/field/tags, group by the rule's
tags, `last()`: one record per series.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.rest import ApiException

from notifier.monitoring.engine import Reading
from notifier.monitoring.rules import Rule
from notifier.monitoring.sources import Failure, SourceError, chart_aggregate, dew_point_readings


def flux_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    return f'"{escaped}"'


def _matches(tags: Mapping[str, str]) -> str:
    return " and ".join(f"r[{flux_string(k)}] == {flux_string(v)}"
                        for k, v in sorted(tags.items()))


def _select(rule: Rule, bucket: str, seconds: float,
            series: list[dict[str, str]] | None = None) -> str:
    """from the bucket, over the last `seconds`, the rule's points (of `series` only, if
    given), grouped by the rule's tags."""
    fields = ([rule.dew_point.temperature, rule.dew_point.humidity]
              if rule.dew_point is not None else [rule.field])
    either = " or ".join(f"r._field == {flux_string(field)}" for field in fields)
    conditions = [f"r._measurement == {flux_string(rule.measurement)}",
                  f"({either})" if len(fields) > 1 else either]
    if rule.where:
        conditions.append(_matches(rule.where))
    if series:
        conditions.append("(" + " or ".join(f"({_matches(t)})" for t in series if t) + ")")
    # A dew point rule's two fields stay apart (grouped by _field too) and pair in Python.
    columns = ", ".join(flux_string(tag) for tag in rule.group_by
                        + (("_field",) if rule.dew_point is not None else ()))
    return (
        f"from(bucket: {flux_string(bucket)})\n"
        f"  |> range(start: -{int(seconds)}s)\n"
        f"  |> filter(fn: (r) => {' and '.join(conditions)})\n"
        f"  |> group(columns: [{columns}])\n"
    )


def build_flux(rule: Rule, bucket: str) -> str:
    return _select(rule, bucket, rule.lookback) + "  |> last()"


def build_history_flux(rule: Rule, bucket: str, series: list[dict[str, str]], seconds: int,
                       step: int) -> str:
    return (_select(rule, bucket, seconds, [t for t in series if t])
            + f"  |> aggregateWindow(every: {int(step)}s, fn: {chart_aggregate(rule)},"
               " createEmpty: false,"
               " timeSrc: \"_start\")")


class FluxSource:
    def __init__(self, url: str, org: str, bucket: str, token: str, timeout: float = 10.0) -> None:
        self.description = f"InfluxDB {url} org {org!r} bucket {bucket!r} (Flux)"
        self._url = url
        self._org = org
        self._bucket = bucket
        self._token = token
        self._timeout_ms = int(timeout * 1000)
        self._client: InfluxDBClientAsync | None = None

    async def latest(self, rule: Rule) -> list[Reading]:
        return await self._query(rule, build_flux(rule, self._bucket), history=False)

    async def history(self, rule: Rule, series: list[dict[str, str]], seconds: int,
                      step: int) -> list[Reading]:
        return await self._query(rule, build_history_flux(rule, self._bucket, series,
                                                          seconds, step), history=True)

    async def _query(self, rule: Rule, query: str, history: bool) -> list[Reading]:
        if self._client is None:
            self._client = InfluxDBClientAsync(url=self._url, token=self._token, org=self._org,
                                               timeout=self._timeout_ms)
        try:
            tables = await self._client.query_api().query(query)
        except ApiException as error:
            raise self._classify(error, rule) from None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            raise SourceError(Failure.UNREACHABLE, f"cannot reach {self.description}: "
                                                   f"{error.__class__.__name__}") from None
        readings: dict[str, list[Reading]] = {}
        for table in tables:
            for record in table.records:
                value = record.values.get("_value")
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                tags = {tag: str(record.values.get(tag, "")) for tag in rule.group_by}
                readings.setdefault(str(record.values.get("_field")), []).append(
                    Reading(tags=tags, value=float(value), time=record.values["_time"]))
        if rule.dew_point is not None:
            return dew_point_readings(readings.get(rule.dew_point.temperature, []),
                                      readings.get(rule.dew_point.humidity, []), history)
        return [reading for found in readings.values() for reading in found]

    def _classify(self, error: ApiException, rule: Rule) -> SourceError:
        message = error.message or error.reason or ""
        status = error.status or 0
        if status in (401, 403):
            return SourceError(Failure.AUTH, f"{self.description} refused the token (HTTP "
                                             f"{status} {message}). Check INFLUX_TOKEN.")
        if status == 404:
            return SourceError(Failure.NOT_FOUND, f"{self.description}: {message}. Check "
                                                  "INFLUX_ORG and INFLUX_BUCKET.")
        if status == 400:
            return SourceError(Failure.BAD_QUERY, f"rule {rule.name!r}: {message}")
        return SourceError(Failure.SERVER, f"{self.description}: HTTP {status} {message}")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()  # type: ignore[no-untyped-call]
            self._client = None
