"""/metrics: a real Prometheus (Debian's package, tests/servers/prometheus.py) scrapes a running app and
the values come back through Prometheus' HTTP API after an alert was delivered through the
connector stand-in; who may read /metrics in each mode; bounded labels."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from common.errors import HeatWatchError, StorageError
from common.metrics import Metrics
from common.settings import load_settings
from demo.processes import free_port
from heatwatch.observability import METRICS, METRICS_BOUND_PORT
from heatwatch.server import SERVICES, create_app
from notifier.alerts.events import EventKind
from notifier.monitoring.engine import Reading
from tests.operating.test_ops_docs import HEATWATCH_METRICS, METRICS_BY_SERIES
from tests.servers.prometheus import PrometheusServer, Sample, ScrapeJob
from tests.standins.connector import ConnectorStandIn, Fault
from tests.standins.identity import EntraStandIn, OpenIdStandIn
from tests.support.delivery import alert_event, new_alert_id
from tests.support.teams import CHANNEL, PERSONAL, TeamsChannel, authenticated_settings
from tests.support.waiting import eventually

TOKEN = "scrape-token-0123456789abcdef"


def environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": f"sqlite:///{tmp_path}/hw.db", "MONITORING_ENABLED": "false",
            "DELIVERY_BACKOFF_SECONDS": "0.05", **extra}


@pytest.fixture
def prometheus_for() -> Iterator:
    servers: list[PrometheusServer] = []

    def start(target: str, token: str | None = None) -> PrometheusServer:
        server = PrometheusServer([ScrapeJob("heatwatch", [target], bearer_token=token)])
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()


async def until(prometheus: PrometheusServer, expr: str, value: float,
                timeout: float = 40.0) -> list[Sample]:
    """Wait (off the event loop, which serves the scrapes) until `expr` has this value."""
    return await asyncio.to_thread(
        prometheus.wait_for, expr,
        lambda samples: bool(samples) and samples[0].value == value, timeout)


async def test_prometheus_scrapes_the_app_after_an_alert_was_delivered(
    aiohttp_client, tmp_path: Path, connector: ConnectorStandIn, prometheus_for,
) -> None:
    client: TestClient = await aiohttp_client(create_app(load_settings(
        environ=environ(tmp_path, METRICS_BEARER_TOKEN=TOKEN), env_file=None)))
    teams = TeamsChannel(client, connector.url)
    await teams.ok("personal_bot_added")
    await teams.ok("team_bot_added")
    await teams.drained()  # the two welcomes: deliveries too
    connector.clear()
    connector.faults.append(Fault(429, "Throttled", retry_after="0", conversation_id=PERSONAL))
    await client.app[SERVICES].sink.publish([alert_event(EventKind.FIRED, new_alert_id())])
    await eventually(lambda: len(connector.sent()) == 2)

    prometheus = prometheus_for(f"127.0.0.1:{client.port}", TOKEN)
    job = '{job="heatwatch"}'
    await until(prometheus, f"up{job}", 1)
    await until(prometheus, 'heatwatch_deliveries_total{outcome="sent"}', 4)  # 2 welcomes
    assert prometheus.query('heatwatch_deliveries_total{outcome="throttled"}')[0].value == 1
    assert prometheus.query("heatwatch_connector_throttled_total")[0].value == 1
    assert prometheus.query('heatwatch_alert_events_total{kind="fired"}')[0].value == 1
    [open_alert] = prometheus.query("heatwatch_alerts_open")
    assert open_alert.labels["rule"] == "server-room-temperature"
    assert open_alert.labels["severity"] == "warn" and open_alert.value == 1
    assert prometheus.query('heatwatch_outbox_deliveries{status="pending"}')[0].value == 0
    assert prometheus.query('heatwatch_outbox_deliveries{status="dead"}')[0].value == 0
    assert prometheus.query("heatwatch_delivery_latency_seconds_count")[0].value == 4
    assert 0 < prometheus.query("heatwatch_delivery_latency_seconds_sum")[0].value < 30
    [build] = prometheus.query("heatwatch_build_info")
    assert build.labels["version"] == "1.0.0" and build.value == 1
    activities = {(s.labels["type"], s.labels["status"]): s.value
                  for s in prometheus.query("heatwatch_activities_total")}
    assert activities == {("conversationUpdate", "200"): 2}
    assert prometheus.query("heatwatch_poller_leader")[0].value == 0  # monitoring is off
    assert prometheus.query("heatwatch_replicas_live")[0].value == 1

    # Every metric of the documented list is there, with the documented labels only.
    scraped = prometheus.query('{__name__=~"heatwatch_.+"}')
    names = {sample.labels["__name__"] for sample in scraped}
    for spec in HEATWATCH_METRICS:
        if spec.name in ("heatwatch_alerts_open",):
            continue  # present above; only while alerts are open
        assert set(spec.series()) & names, spec.name
    for sample in scraped:
        spec = METRICS_BY_SERIES[sample.labels["__name__"]]
        labels = set(sample.labels) - {"__name__", "job", "instance", "le"}
        assert labels <= set(spec.labels), (spec.name, labels)
        for label, allowed in spec.values.items():
            if label in sample.labels:
                assert sample.labels[label] in allowed, (spec.name, sample.labels)


async def test_metrics_are_open_on_the_bot_port_in_anonymous_mode(
    aiohttp_client, tmp_path: Path, connector: ConnectorStandIn,
) -> None:
    client = await aiohttp_client(create_app(load_settings(environ=environ(tmp_path),
                                                           env_file=None)))
    teams = TeamsChannel(client, connector.url)
    await teams.ok("personal_bot_added")
    await teams.post("unknown_activity_type")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    text = await response.text()
    assert 'heatwatch_build_info{version="1.0.0"} 1.0' in text
    assert 'heatwatch_activities_total{status="200",type="conversationUpdate"} 1.0' in text
    assert 'type="other"' in text  # an activity type the Bot Framework does not know
    assert PERSONAL not in text and "rack" not in text  # never an id or a tag as a label


async def test_a_bearer_token_guards_metrics(aiohttp_client, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(load_settings(
        environ=environ(tmp_path, METRICS_BEARER_TOKEN=TOKEN), env_file=None)))
    assert (await client.get("/metrics")).status == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer " + TOKEN[:-1]})
    assert wrong.status == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await client.get("/metrics", headers={"Authorization": "Basic " + TOKEN})).status \
        == 401
    right = await client.get("/metrics", headers={"Authorization": "Bearer " + TOKEN})
    assert right.status == 200 and "heatwatch_polls_total" in await right.text()


async def test_with_an_app_id_and_no_token_or_port_metrics_are_not_served(
    aiohttp_client, tmp_path: Path, openid: OpenIdStandIn, entra: EntraStandIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from heatwatch.observability import announce

    settings = authenticated_settings(f"sqlite:///{tmp_path}/hw.db", openid.metadata_url,
                                      entra.authority)
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/metrics")).status == 404
    with caplog.at_level(logging.INFO):
        announce(settings)
    [line] = [r.getMessage() for r in caplog.records if "metrics" in r.getMessage().lower()]
    assert "METRICS_BEARER_TOKEN" in line and "METRICS_PORT" in line


async def test_a_separate_metrics_port_serves_metrics_and_the_bot_port_does_not(
    aiohttp_client, tmp_path: Path, openid: OpenIdStandIn, entra: EntraStandIn,
) -> None:
    import aiohttp

    port = free_port()
    settings = authenticated_settings(f"sqlite:///{tmp_path}/hw.db", openid.metadata_url,
                                      entra.authority, METRICS_PORT=str(port))
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/metrics")).status == 404
    assert client.app[METRICS_BOUND_PORT] == port
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
            assert response.status == 200
            assert "heatwatch_deliveries_total" in await response.text()


# what each piece counts -------------------------------------------------------------------------


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_dead_and_parked_deliveries_are_counted(
    aiohttp_client, tmp_path: Path, connector: ConnectorStandIn,
) -> None:
    client = await aiohttp_client(create_app(load_settings(
        environ=environ(tmp_path, DELIVERY_MAX_ATTEMPTS="2"), env_file=None)))
    teams = TeamsChannel(client, connector.url)
    await teams.ok("personal_bot_added")
    await teams.ok("team_bot_added")
    await teams.drained()  # the two welcomes
    connector.faults.append(Fault(400, "BadArgument", "refused", conversation_id=PERSONAL))
    connector.faults.append(Fault(403, "BotNotInConversationRoster", "gone",
                                  conversation_id=CHANNEL))
    await client.app[SERVICES].sink.publish([alert_event(EventKind.FIRED, new_alert_id())])
    metrics = client.app[METRICS]
    await eventually(lambda: sample(metrics, "heatwatch_deliveries_total", outcome="dead") == 1
                     and sample(metrics, "heatwatch_deliveries_total", outcome="parked") == 1)
    assert sample(metrics, "heatwatch_deliveries_total", outcome="sent") == 2  # the welcomes
    text = await (await client.get("/metrics")).text()
    assert 'heatwatch_outbox_deliveries{status="dead"} 2.0' in text


async def test_polls_and_series_are_counted(tmp_path: Path) -> None:
    from notifier.monitoring.monitor import Monitor
    from notifier.monitoring.rules import parse_rules
    from storage.alert_state import AlertStateStore
    from storage.database import open_database
    from tests.operating.test_operating import RULES, FakeSource
    from tests.support.sinks import RecordingSink

    database = await open_database(f"sqlite:///{tmp_path}/state.db")
    metrics = Metrics()
    try:
        source = FakeSource()
        now = datetime.now(UTC)
        source.readings = {"hot-aisle": [Reading({"room": "r1", "sensor": f"s{i}"}, 20.0, now)
                                         for i in range(3)]}
        monitor = Monitor(parse_rules(RULES), source, AlertStateStore(database),
                          RecordingSink(), interval=1, down_after=60, metrics=metrics)
        await monitor.poll_once(now)
        source.down = True
        await monitor.poll_once(now)
    finally:
        await database.close()
    assert sample(metrics, "heatwatch_polls_total", outcome="ok") == 1
    assert sample(metrics, "heatwatch_polls_total", outcome="failed") == 1
    assert sample(metrics, "heatwatch_series_evaluated_total") == 3
    assert sample(metrics, "heatwatch_poll_duration_seconds_count") == 2


async def test_graph_requests_are_counted(tmp_path: Path, entra: EntraStandIn,
                                         connector: ConnectorStandIn) -> None:
    from functools import partial

    from bots.references import personal_chat_reference
    from common.tokens import ClientSecretTokenSource
    from notifier.install.graph import GraphInstaller, graph_client
    from storage.database import open_database
    from storage.registry import ConversationRegistry
    from tests.delivery.test_graph_install import ADELE, ADELE_UPN, MANIFEST_ID
    from tests.standins.graph import GraphStandIn
    from tests.support.teams import APP_ID, APP_SECRET, TENANT

    graph = GraphStandIn(manifest_id=MANIFEST_ID, users={ADELE: ADELE_UPN}).start()
    database = await open_database(f"sqlite:///{tmp_path}/hw.db")
    tokens = ClientSecretTokenSource(entra.authority, TENANT, APP_ID, APP_SECRET)
    metrics = Metrics()
    try:
        installer = GraphInstaller(
            graph_client(tokens, graph.url, metrics.graph_request),
            ConversationRegistry(database), partial(personal_chat_reference, APP_ID),
            tenant_id=TENANT, manifest_id=MANIFEST_ID, default_service_url=connector.url,
            graph_base_url=graph.url)
        await installer.ensure(ADELE_UPN)
        assert sample(metrics, "heatwatch_graph_requests_total", outcome="ok") >= 3
        assert sample(metrics, "heatwatch_graph_requests_total", outcome="failed") == 0
        graph.forbidden = True
        with pytest.raises(HeatWatchError):
            await installer.ensure(ADELE_UPN)
        assert sample(metrics, "heatwatch_graph_requests_total", outcome="failed") == 1
    finally:
        await tokens.close()
        await database.close()
        graph.stop()


async def test_database_errors_are_counted(aiohttp_client, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(load_settings(environ=environ(tmp_path),
                                                           env_file=None)))
    with pytest.raises(StorageError):
        await client.app[SERVICES].database.fetch_all("SELECT * FROM no_such_table")
    assert sample(client.app[METRICS], "heatwatch_database_errors_total") == 1


async def test_the_apps_metrics_are_the_documented_ones(aiohttp_client, tmp_path: Path) -> None:
    """Names, types and label names as tests/operating/test_ops_docs.py's HEATWATCH_METRICS (which the
    dashboard, the alerting rules and docs/operating.md are checked against)."""
    from prometheus_client.parser import text_string_to_metric_families

    client = await aiohttp_client(create_app(load_settings(environ=environ(tmp_path),
                                                           env_file=None)))
    text = await (await client.get("/metrics")).text()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    for spec in HEATWATCH_METRICS:
        name = spec.name.removesuffix("_total") if spec.type == "counter" else spec.name
        assert name in families, spec.name
        assert families[name].type == spec.type, spec.name
    assert len(families) == len(HEATWATCH_METRICS)
