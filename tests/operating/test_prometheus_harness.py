"""The Prometheus launcher of tests/servers/prometheus.py against a tiny aiohttp app whose /metrics is made
by the official prometheus-client library and needs a bearer token, like HeatWatch's may."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import generate_latest

from tests.servers.prometheus import PrometheusQueryError, PrometheusServer, Sample, ScrapeJob
from tests.standins.threaded import ThreadedServer

TOKEN = "metrics-test-token"


class MetricsApp:
    """An aiohttp app serving `GET /metrics` to requests with `Authorization: Bearer TOKEN`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.temperature = Gauge("harness_temperature_celsius", "A temperature.",
                                 ["room"], registry=self.registry)
        self.scrapes = Counter("harness_scrapes", "Authorized /metrics requests.",
                               registry=self.registry)
        app = web.Application()
        app.router.add_get("/metrics", self.metrics)
        self.server = ThreadedServer(app)

    async def metrics(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.Response(status=401, text="missing or wrong bearer token")
        self.scrapes.inc()
        return web.Response(body=generate_latest(self.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"


@pytest.fixture
def metrics_app() -> Iterator[MetricsApp]:
    app = MetricsApp()
    app.server.start()
    yield app
    app.server.stop()


def one_value(expected: float) -> Callable[[list[Sample]], bool]:
    def check(samples: list[Sample]) -> bool:
        return len(samples) == 1 and samples[0].value == expected
    return check


def test_prometheus_scrapes_a_prometheus_client_app_with_a_bearer_token(
        metrics_app: MetricsApp) -> None:
    metrics_app.temperature.labels(room="dc1-a").set(24.5)
    jobs = [ScrapeJob("app", [metrics_app.address], bearer_token=TOKEN),
            ScrapeJob("wrong-token", [metrics_app.address], bearer_token="not-the-token")]
    with PrometheusServer(jobs) as prometheus:
        assert prometheus.config_path.stat().st_mode & 0o077 == 0  # the token is not world-readable
        [sample] = prometheus.wait_for('harness_temperature_celsius{job="app"}', one_value(24.5))
        assert sample.labels["room"] == "dc1-a"
        assert sample.labels["instance"] == metrics_app.address

        # Scraped again every second: a new value shows up.
        metrics_app.temperature.labels(room="dc1-a").set(31.0)
        prometheus.wait_for('harness_temperature_celsius{job="app"}', one_value(31.0))

        # A range selector gives every scraped value; a scalar, one unlabelled sample.
        [history] = prometheus.query('harness_temperature_celsius{job="app"}[1m]')
        assert history.values[0][1] == 24.5 and history.value == 31.0
        assert [s.value for s in prometheus.query('scalar(harness_temperature_celsius)')] == [31.0]

        # Counters made by prometheus-client keep their _total name.
        [scrapes] = prometheus.query('harness_scrapes_total{job="app"}')
        assert scrapes.value >= 2

        # Only the job with the right token gets in.
        prometheus.wait_for('up{job="app"}', one_value(1))
        prometheus.wait_for('up{job="wrong-token"}', one_value(0))
        health = {t["labels"]["job"]: t for t in prometheus.targets()}
        assert health["app"]["health"] == "up"
        assert "401" in health["wrong-token"]["lastError"]

        with pytest.raises(PrometheusQueryError) as error:
            prometheus.query("sum(rate(harness_scrapes_total[1m])")
        assert error.value.error_type == "bad_data"
    assert not prometheus.root.exists()  # its temporary folder went with it
