"""Flux through influxdb-client's async client, for InfluxDB 2.x and InfluxDB Cloud.

One query per rule: range over the lookback, filter measurement/field/tags, group by the rule's
tags, `last()`: one record per series.
"""

from __future__ import annotations

import asyncio

import aiohttp
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.rest import ApiException

from notifier.monitoring.engine import Reading
from notifier.monitoring.rules import Rule
from notifier.monitoring.sources import Failure, SourceError


def flux_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    return f'"{escaped}"'


def build_flux(rule: Rule, bucket: str) -> str:
    conditions = [f"r._measurement == {flux_string(rule.measurement)}",
                  f"r._field == {flux_string(rule.field)}"]
    conditions += [f"r[{flux_string(k)}] == {flux_string(v)}" for k, v in
                   sorted(rule.where.items())]
    columns = ", ".join(flux_string(tag) for tag in rule.group_by)
    return (
        f"from(bucket: {flux_string(bucket)})\n"
        f"  |> range(start: -{int(rule.lookback)}s)\n"
        f"  |> filter(fn: (r) => {' and '.join(conditions)})\n"
        f"  |> group(columns: [{columns}])\n"
        "  |> last()"
    )


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
        if self._client is None:
            self._client = InfluxDBClientAsync(url=self._url, token=self._token, org=self._org,
                                               timeout=self._timeout_ms)
        try:
            tables = await self._client.query_api().query(build_flux(rule, self._bucket))
        except ApiException as error:
            raise self._classify(error, rule) from None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            raise SourceError(Failure.UNREACHABLE, f"cannot reach {self.description}: "
                                                   f"{error.__class__.__name__}") from None
        readings: list[Reading] = []
        for table in tables:
            for record in table.records:
                value = record.get_value()
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                tags = {tag: str(record.values.get(tag, "")) for tag in rule.group_by}
                readings.append(Reading(tags=tags, value=float(value), time=record.get_time()))
        return readings

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
            await self._client.close()
            self._client = None
