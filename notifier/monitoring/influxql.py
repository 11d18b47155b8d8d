"""InfluxQL over HTTP `/query`, for InfluxDB 1.x and 3.x (v1-compatible API).

One statement per rule: `SELECT last(field) ... WHERE time > now() - lookback AND tag filters
GROUP BY the rule's tags`, so 10,000 sensors are one query, not 10,000. A dew point rule sends
one query of two statements (its temperature and its humidity field).
"""

from __future__ import annotations

import asyncio
from base64 import b64encode
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp

from notifier.alerts.events import series_key
from notifier.monitoring.engine import Reading
from notifier.monitoring.rules import Rule
from notifier.monitoring.sources import Failure, SourceError, chart_aggregate, dew_point_readings


def quote_identifier(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _matches(tags: Mapping[str, str]) -> str:
    return " AND ".join(f"{quote_identifier(k)} = {quote_string(v)}"
                        for k, v in sorted(tags.items()))


def _where(rule: Rule, seconds: float, series: list[dict[str, str]] | None = None) -> str:
    """The rule's points of the last `seconds` (of `series` only, if given)."""
    conditions = [f"time > now() - {int(seconds)}s"]
    if rule.where:
        conditions.append(_matches(rule.where))
    alternatives = [f"({_matches(tags)})" for tags in series or [] if tags]
    if alternatives:
        conditions.append("(" + " OR ".join(alternatives) + ")")
    return " AND ".join(conditions)


def _fields(rule: Rule) -> list[str]:
    """The fields a rule reads: its `field`, or a dew point's temperature and humidity (one
    statement each, in that order, sent as one query)."""
    if rule.dew_point is not None:
        return [rule.dew_point.temperature, rule.dew_point.humidity]
    return [rule.field]


def build_query(rule: Rule) -> str:
    group = ", ".join(quote_identifier(tag) for tag in rule.group_by)
    return "; ".join(
        f"SELECT last({quote_identifier(field)}) AS \"value\" "
        f"FROM {quote_identifier(rule.measurement)} WHERE {_where(rule, rule.lookback)}"
        + (f" GROUP BY {group}" if group else "") for field in _fields(rule))


def build_history_query(rule: Rule, series: list[dict[str, str]], seconds: int,
                        step: int) -> str:
    group = ", ".join([f"time({int(step)}s)"] + [quote_identifier(t) for t in rule.group_by])
    return "; ".join(
        f"SELECT {chart_aggregate(rule)}({quote_identifier(field)}) AS \"value\" "
        f"FROM {quote_identifier(rule.measurement)} WHERE {_where(rule, seconds, series)} "
        f"GROUP BY {group} fill(none)" for field in _fields(rule))


def parse_rule_results(body: Any, rule: Rule, history: bool = False) -> list[Reading]:
    """The readings of a rule's query: of its field, or the dew points of its two
    statements (temperature, then humidity)."""
    if rule.dew_point is None or not isinstance(body, dict) or "error" in body:
        return parse_results(body, rule)
    results = list(body.get("results") or [])
    return dew_point_readings(parse_results({"results": results[:1]}, rule),
                              parse_results({"results": results[1:2]}, rule), history)


def parse_results(body: Any, rule: Rule) -> list[Reading]:
    """Turn `/query` JSON into readings, or raise SourceError for an error inside results."""
    if not isinstance(body, dict):
        raise SourceError(Failure.SERVER, "InfluxDB answered with something that is not JSON")
    if "error" in body:
        raise SourceError(Failure.BAD_QUERY, f"rule {rule.name!r}: {body['error']}")
    readings: list[Reading] = []
    for result in body.get("results") or []:
        if "error" in result:
            message = str(result["error"])
            failure = Failure.NOT_FOUND if "database not found" in message else Failure.BAD_QUERY
            raise SourceError(failure, f"rule {rule.name!r}: {message}")
        for series in result.get("series") or []:
            columns = series.get("columns") or []
            tags = {k: str(v) for k, v in (series.get("tags") or {}).items()}
            key = series_key(tags)
            for row in series.get("values") or []:
                record = dict(zip(columns, row, strict=False))
                value = record.get("value")
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                time = datetime.fromtimestamp(record["time"] / 1000, UTC)
                readings.append(Reading(tags=tags, value=float(value), time=time, key=key))
    return readings


class InfluxQLSource:
    def __init__(
        self,
        url: str,
        database: str,
        *,
        token: str = "",
        username: str = "",
        password: str = "",
        timeout: float = 10.0,
    ) -> None:
        self.description = f"InfluxDB {url} database {database!r} (InfluxQL)"
        self._url = url.rstrip("/") + "/query"
        self._database = database
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Token {token}"
        elif username:
            basic = b64encode(f"{username}:{password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {basic}"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def latest(self, rule: Rule) -> list[Reading]:
        return await self._query(rule, build_query(rule), history=False)

    async def history(self, rule: Rule, series: list[dict[str, str]], seconds: int,
                      step: int) -> list[Reading]:
        return await self._query(rule, build_history_query(rule, series, seconds, step),
                                 history=True)

    async def _query(self, rule: Rule, query: str, history: bool) -> list[Reading]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        form = {"db": self._database, "q": query, "epoch": "ms"}
        try:
            async with self._session.post(self._url, data=form,
                                          headers=self._headers) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            raise SourceError(
                Failure.UNREACHABLE, f"cannot reach {self.description}: "
                f"{error.__class__.__name__} {error}".strip()) from None
        error_text = body.get("error", "") if isinstance(body, dict) else ""
        if status in (401, 403):
            raise SourceError(
                Failure.AUTH, f"{self.description} refused the credentials (HTTP {status} "
                f"{error_text}). Check INFLUX_TOKEN or INFLUX_USERNAME/INFLUX_PASSWORD.")
        if status == 404:
            raise SourceError(Failure.NOT_FOUND, f"{self.description}: HTTP 404 {error_text}. "
                                                 "Check INFLUX_URL.")
        if status == 400:
            raise SourceError(Failure.BAD_QUERY, f"rule {rule.name!r}: {error_text}")
        if status >= 500 or status != 200:
            raise SourceError(Failure.SERVER, f"{self.description}: HTTP {status} {error_text}")
        return parse_rule_results(body, rule, history)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
