"""The Flux path (InfluxDB 2.x / Cloud) against an /api/v2/query stand-in: the exact request
influxdb-client sends, annotated CSV answers, and InfluxDB 2's error bodies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from notifier.monitoring.flux import FluxSource, build_flux, build_history_flux
from notifier.monitoring.rules import parse_rules
from notifier.monitoring.sources import Failure, SourceError
from tests.standins.influx2 import FluxRow, Influx2StandIn

RULE = parse_rules("""
[[rule]]
name = "hot-aisle"
measurement = "temperature"
where = { site = "ams\\"1" }
group_by = ["room", "sensor"]
crit_above = 32.0
no_data = "5m"
""")[0]


@pytest.fixture
def influx2() -> Iterator[Influx2StandIn]:
    stand_in = Influx2StandIn(token="flux-token", org="acme", buckets={"dc"}).start()
    yield stand_in
    stand_in.stop()


async def test_one_flux_query_returns_the_latest_point_of_every_series(
    influx2: Influx2StandIn,
) -> None:
    at = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    influx2.rows = [FluxRow("r1", "s1", 28.5, at), FluxRow("r2", "s9", 33.0, at)]
    source = FluxSource(influx2.url, "acme", "dc", "flux-token")
    try:
        readings = await source.latest(RULE)
    finally:
        await source.close()

    assert [(r.tags, r.value, r.time) for r in readings] == [
        ({"room": "r1", "sensor": "s1"}, 28.5, at), ({"room": "r2", "sensor": "s9"}, 33.0, at)]
    [sent] = influx2.requests
    assert sent["org"] == "acme"
    assert sent["authorization"] == "Token flux-token"
    assert sent["content_type"] == "application/json"
    assert sent["body"]["query"] == build_flux(RULE, "dc")
    assert sent["body"]["query"] == (
        'from(bucket: "dc")\n'
        "  |> range(start: -600s)\n"
        '  |> filter(fn: (r) => r._measurement == "temperature" and r._field == "value" and '
        'r["site"] == "ams\\"1")\n'
        '  |> group(columns: ["room", "sensor"])\n'
        "  |> last()")


@pytest.mark.parametrize(
    "org,bucket,token,failure,message",
    [
        ("acme", "dc", "wrong", Failure.AUTH, "unauthorized access"),
        ("acme", "nope", "flux-token", Failure.NOT_FOUND, 'could not find bucket "nope"'),
        ("other", "dc", "flux-token", Failure.NOT_FOUND, 'organization name "other" not found'),
    ],
)
async def test_errors_are_classified_with_their_message(
    influx2: Influx2StandIn, org: str, bucket: str, token: str, failure: Failure, message: str
) -> None:
    source = FluxSource(influx2.url, org, bucket, token)
    try:
        with pytest.raises(SourceError) as raised:
            await source.latest(RULE)
    finally:
        await source.close()
    assert raised.value.failure is failure
    assert message in str(raised.value)
    assert token not in str(raised.value)


async def test_unreachable_server() -> None:
    from tests.support.process import free_port

    source = FluxSource(f"http://127.0.0.1:{free_port()}", "acme", "dc", "flux-token",
                        timeout=2)
    try:
        with pytest.raises(SourceError) as raised:
            await source.latest(RULE)
    finally:
        await source.close()
    assert raised.value.failure is Failure.UNREACHABLE


def test_a_chart_query_labels_each_step_with_the_start_of_its_window() -> None:
    # The InfluxQL path's GROUP BY time() labels a window with its start; Flux labels it with
    # its stop unless told otherwise. The chart's reader takes the start from both. A step
    # keeps its hottest reading (a mean averaged a spike away).
    query = build_history_flux(RULE, "dc", [{"room": "r1", "sensor": "s1"}], 1800, 30)
    assert query.endswith(
        '  |> aggregateWindow(every: 30s, fn: max, createEmpty: false, timeSrc: "_start")')
    assert "range(start: -1800s)" in query
