"""The operations docs: Prometheus alerting rules (promtool checks them and runs their unit tests)
and the Grafana dashboard (valid JSON; every query parses in a real Prometheus, uses only
HeatWatch's metrics, and returns data once a HeatWatch-shaped /metrics is scraped).

HEATWATCH_METRICS is the one list of HeatWatch's metric names, types and labels: the docs are
checked against it, and the application's /metrics can be checked against it too
(`from tests.operating.test_ops_docs import HEATWATCH_METRICS`).
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from notifier.inbound.sources import RECEIVERS
from storage.retention import COUNTED_TABLES
from tests.servers.prometheus import PrometheusQueryError, PrometheusServer, ScrapeJob
from tests.standins.threaded import ThreadedServer

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "docs" / "prometheus"
RULES = RULES_DIR / "heatwatch-alerts.yml"
RULE_TESTS = RULES_DIR / "heatwatch-alerts.test.yml"
DASHBOARD = ROOT / "docs" / "grafana" / "heatwatch-dashboard.json"
OPERATING = ROOT / "docs" / "operating.md"

MetricType = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class MetricSpec:
    """One metric of HeatWatch's /metrics. `values` lists the allowed values of the labels that
    have a fixed set; the other labels are free-form (a rule name, an HTTP status code)."""

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def series(self) -> tuple[str, ...]:
        """The series names Prometheus stores for it."""
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


ALERT_EVENT_KINDS = ("fired", "escalated", "de-escalated", "reminder", "resolved", "no-data",
                     "data-back", "source-down", "source-up", "probe-fault", "probe-notice")

HEATWATCH_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("heatwatch_build_info", "gauge", "Always 1; the running version in its label.",
               ("version",)),
    MetricSpec("heatwatch_polls_total", "counter", "Polls of InfluxDB, by outcome.",
               ("outcome",), {"outcome": ("ok", "failed")}),
    MetricSpec("heatwatch_poll_duration_seconds", "histogram",
               "Duration of one poll: every rule's query, evaluation and storing the state."),
    MetricSpec("heatwatch_series_evaluated_total", "counter",
               "Series (one sensor of one rule) evaluated by polls."),
    MetricSpec("heatwatch_alerts_open", "gauge", "Alerts open now, by rule and severity.",
               ("rule", "severity"), {"severity": ("warn", "crit", "no_data")}),
    MetricSpec("heatwatch_alert_events_total", "counter", "Alert events published, by kind.",
               ("kind",), {"kind": ALERT_EVENT_KINDS}),
    MetricSpec("heatwatch_outbox_deliveries", "gauge",
               "Deliveries in the outbox, by status (the shared database's count).",
               ("status",), {"status": ("pending", "dead")}),
    MetricSpec("heatwatch_table_rows", "gauge", "Rows per database table (read at scrape "
               "time; retention keeps the growing ones bounded).", ("table",),
               {"table": COUNTED_TABLES}),
    MetricSpec("heatwatch_deliveries_total", "counter", "Delivery attempts, by outcome.",
               ("outcome",), {"outcome": ("sent", "retried", "throttled", "dead", "parked")}),
    MetricSpec("heatwatch_delivery_latency_seconds", "histogram",
               "From enqueueing a delivery to the Bot Connector accepting it."),
    MetricSpec("heatwatch_connector_throttled_total", "counter",
               "Bot Connector answers 429 (Teams throttling)."),
    MetricSpec("heatwatch_graph_requests_total", "counter",
               "Microsoft Graph requests, by outcome.", ("outcome",),
               {"outcome": ("ok", "failed")}),
    MetricSpec("heatwatch_activities_total", "counter",
               "Inbound activities on /api/messages, by activity type and HTTP status answered.",
               ("type", "status")),
    MetricSpec("heatwatch_database_errors_total", "counter", "Failed database operations."),
    MetricSpec("heatwatch_replicas_live", "gauge",
               "Replicas with a fresh heartbeat in the shared database."),
    MetricSpec("heatwatch_poller_leader", "gauge",
               "1 on the replica that polls InfluxDB, 0 on a standby."),
    MetricSpec("heatwatch_source_up", "gauge", "1 while InfluxDB is reachable, 0 when not."),
    MetricSpec("heatwatch_probe_faults", "gauge",
               "Series whose probe is at fault now (not paged), by kind: implausible, jump "
               "(held for the next reading), stuck.", ("kind",),
               {"kind": ("implausible", "jump", "stuck")}),
    MetricSpec("heatwatch_inbound_notifications_total", "counter",
               "Notifications posted to the alert receivers (/api/alerts/<receiver>), by receiver "
               "and outcome.", ("receiver", "outcome"),
               {"receiver": RECEIVERS,  # the source registry's names
                "outcome": ("accepted", "duplicate", "invalid", "too_large", "unauthorized",
                            "disabled", "failed")}),
)

METRICS_BY_SERIES: dict[str, MetricSpec] = {
    series: spec for spec in HEATWATCH_METRICS for series in spec.series()}
# Labels Prometheus adds to every scraped series, and the histogram bucket label.
TARGET_LABELS = frozenset({"job", "instance"})
# Series Prometheus makes itself that the alerting rules may use (not the dashboard).
PROMETHEUS_SERIES: dict[str, frozenset[str]] = {"up": TARGET_LABELS}
# Free-form label values for the synthetic /metrics below.
EXAMPLE_VALUES = {"version": ("1.0.0",), "rule": ("hot-aisle", "cold-aisle"),
                  "type": ("message", "invoke"), "status": ("200", "401")}
# Grafana variables in the dashboard's queries, and what the tests put in their place.
GRAFANA_VARIABLES = {"job": "heatwatch", "__rate_interval": "1m"}

# --- A small PromQL reader: enough to find the metric names and label matchers of a query. ---

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?")
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r'([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                       "and", "or", "unless", "offset", "inf", "nan"})


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (not functions, keywords or label names)."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = _GROUPING.sub(" ", text)  # by (...), on (...), group_left (...)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call is None and name.lower() not in _KEYWORDS:
            names.add(name)
    return names


def label_matchers(expr: str) -> list[tuple[str, str, str, str]]:
    """(metric, label, operator, value) for every matcher of a selector with a metric name."""
    found = []
    for selector in _SELECTOR.finditer(expr):
        metric = selector.group(1)
        if metric is None:
            continue
        for matcher in _MATCHER.finditer(selector.group(2)):
            found.append((metric, matcher.group(1), matcher.group(2), matcher.group(3)))
    return found


def grouping_labels(expr: str) -> set[str]:
    labels: set[str] = set()
    for match in _GROUPING.finditer(_STRING.sub('""', expr)):
        labels.update(label.strip() for label in match.group(2).split(",") if label.strip())
    return labels


def problems_with(expr: str, allow_prometheus_series: bool) -> list[str]:
    """What in `expr` is not one of HEATWATCH_METRICS (names, labels, fixed label values)."""
    problems = []
    allowed_labels = set(TARGET_LABELS) | {"le"}
    for metric_spec in HEATWATCH_METRICS:
        allowed_labels.update(metric_spec.labels)
    for name in sorted(metric_names(expr)):
        if name not in METRICS_BY_SERIES and not (allow_prometheus_series
                                                  and name in PROMETHEUS_SERIES):
            problems.append(f"unknown metric {name}")
    for metric, label, operator, value in label_matchers(expr):
        spec = METRICS_BY_SERIES.get(metric)
        if spec is not None:
            labels = set(spec.labels) | TARGET_LABELS
            if metric.endswith("_bucket"):
                labels.add("le")
        else:
            labels = set(PROMETHEUS_SERIES.get(metric, frozenset()))
        if label not in labels:
            problems.append(f"{metric} has no label {label}")
        elif spec and operator == "=" and label in spec.values and value not in spec.values[label]:
            problems.append(f"{metric}{{{label}}} is never {value!r}: {spec.values[label]}")
    for label in sorted(grouping_labels(expr) - allowed_labels):
        problems.append(f"no HeatWatch metric has the label {label}")
    return problems


def test_the_promql_reader_finds_metrics_and_labels() -> None:
    expr = ('histogram_quantile(0.95, sum by (le) (rate(heatwatch_poll_duration_seconds_bucket'
            '{job=~"$job", le!="+Inf"}[5m] offset 1h))) > 0.5 and on(instance) '
            'heatwatch_source_up == bool 1 or absent(up{job="heatwatch"}) unless foo:bar_total')
    assert metric_names(expr) == {"heatwatch_poll_duration_seconds_bucket",
                                  "heatwatch_source_up", "up", "foo:bar_total"}
    assert label_matchers(expr) == [
        ("heatwatch_poll_duration_seconds_bucket", "job", "=~", "$job"),
        ("heatwatch_poll_duration_seconds_bucket", "le", "!=", "+Inf"),
        ("up", "job", "=", "heatwatch")]
    assert grouping_labels(expr) == {"le", "instance"}
    assert problems_with(expr, allow_prometheus_series=True) == ["unknown metric foo:bar_total"]
    assert problems_with('heatwatch_polls_total{outcome="sucess"} + up', False) == [
        "unknown metric up",
        "heatwatch_polls_total{outcome} is never 'sucess': ('ok', 'failed')"]
    assert problems_with('sum by (reason) (heatwatch_deliveries_total{state="dead"})', False) == [
        "heatwatch_deliveries_total has no label state",
        "no HeatWatch metric has the label reason"]


# --- The alerting rules ---


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: run scripts/install-prometheus (./scripts/test does)"
    return subprocess.run([binary, *args], cwd=RULES_DIR, capture_output=True, text=True,
                          timeout=120, check=False)


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def test_promtool_checks_the_alerting_rules() -> None:
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_of_the_alerting_rules_pass() -> None:
    result = promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_healthy() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    checks = [check for test in tests for check in test.get("alert_rule_test", [])]
    for rule in alert_rules():
        name = rule["alert"]
        assert any(c["alertname"] == name and c.get("exp_alerts") for c in checks), \
            f"no test where {name} fires"
        assert any(c["alertname"] == name and not c.get("exp_alerts") for c in checks), \
            f"no test where {name} stays quiet"


def test_alert_rules_tell_the_operator_what_to_check() -> None:
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} >= {
        "HeatWatchDown", "HeatWatchOutboxStuck", "HeatWatchOutboxGrowing",
        "HeatWatchDeliveriesDead", "HeatWatchPollsFailing", "HeatWatchInfluxDBDown",
        "HeatWatchConnectorThrottled"}
    text = RULES.read_text()
    assert "Troubleshooting" in text and "python -m heatwatch deliveries" in text
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description"}, rule["alert"]
        assert len(annotations["description"]) > 100, rule["alert"]


def test_alert_rules_use_only_heatwatch_metrics() -> None:
    problems = [f"{rule['alert']}: {problem}" for rule in alert_rules()
                for problem in problems_with(rule["expr"], allow_prometheus_series=True)]
    assert problems == []


# --- The Grafana dashboard ---


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])  # panels inside collapsed rows


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expr) of every query of the dashboard."""
    return [(panel["title"], target["expr"]) for panel in panels(dashboard())
            for target in panel.get("targets", [])]


def substitute_variables(expr: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in GRAFANA_VARIABLES, f"unknown Grafana variable ${name} in {expr}"
        return GRAFANA_VARIABLES[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", replace, expr)


def test_dashboard_is_an_importable_grafana_dashboard() -> None:
    board = dashboard()
    assert board["schemaVersion"] == 39
    assert board["uid"] and board["title"] == "HeatWatch"
    [source] = board["__inputs"]
    assert source["name"] == "DS_PROMETHEUS" and source["pluginId"] == "prometheus"
    ids = [panel["id"] for panel in panels(board)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels(board):
        position = panel["gridPos"]
        assert 0 <= position["x"] and position["x"] + position["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
            assert target["expr"].strip() and target["refId"], panel["title"]
    for variable in board["templating"]["list"]:
        assert variable["datasource"]["uid"] == "${DS_PROMETHEUS}"


def test_dashboard_has_the_operating_panels() -> None:
    queries = " ".join(expr for _, expr in dashboard_queries())
    for needed in [
        "heatwatch_alerts_open", "sum by (severity)",  # open alerts by severity
        "sum by (outcome) (rate(heatwatch_deliveries_total",  # deliveries by outcome
        "histogram_quantile(0.5, sum by (le) (rate(heatwatch_delivery_latency_seconds_bucket",
        "histogram_quantile(0.95, sum by (le) (rate(heatwatch_delivery_latency_seconds_bucket",
        "heatwatch_outbox_deliveries",  # outbox depth
        "sum by (outcome) (rate(heatwatch_polls_total",
        "histogram_quantile(0.95, sum by (le) (rate(heatwatch_poll_duration_seconds_bucket",
        "heatwatch_connector_throttled_total",
        "sum by (status) (rate(heatwatch_activities_total",
        "heatwatch_replicas_live", "heatwatch_poller_leader",
    ]:
        assert needed in queries, needed


def test_dashboard_uses_only_heatwatch_metrics() -> None:
    problems = [f"{title}: {problem}" for title, expr in dashboard_queries()
                for problem in problems_with(expr, allow_prometheus_series=False)]
    assert problems == []
    for variable in dashboard()["templating"]["list"]:
        match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variable["definition"])
        assert match and match.group(1) in METRICS_BY_SERIES, variable["definition"]


# --- Against a real Prometheus scraping a HeatWatch-shaped /metrics ---


def synthetic_registry() -> CollectorRegistry:
    """Every metric of HEATWATCH_METRICS, made by prometheus-client as HeatWatch will, with every
    fixed label value (and examples for free-form labels)."""
    registry = CollectorRegistry()
    kinds: dict[str, type[Counter | Gauge | Histogram]] = {
        "counter": Counter, "gauge": Gauge, "histogram": Histogram}
    for spec in HEATWATCH_METRICS:
        metric = kinds[spec.type](spec.name, spec.help, spec.labels, registry=registry)
        choices = [spec.values.get(label) or EXAMPLE_VALUES[label] for label in spec.labels]
        for combination in itertools.product(*choices):
            child = metric.labels(*combination) if spec.labels else metric
            if isinstance(child, Counter):
                child.inc(3)
            elif isinstance(child, Gauge):
                child.set(1)
            else:
                for seconds in (0.05, 0.2, 0.2, 1.5):
                    child.observe(seconds)
    return registry


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusServer]:
    """A Prometheus with the alerting rules loaded, scraping a synthetic HeatWatch as job
    `heatwatch`, once it has two scrapes (enough for rate())."""
    registry = synthetic_registry()

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    exporter = ThreadedServer(app).start()
    server = PrometheusServer([ScrapeJob("heatwatch", [f"127.0.0.1:{exporter.port}"])],
                              rule_files=[RULES])
    try:
        server.start()
        server.wait_for('count_over_time(heatwatch_build_info{job="heatwatch"}[1m])',
                        lambda samples: bool(samples) and samples[0].value >= 2, timeout=30)
        yield server
    finally:
        server.stop()
        exporter.stop()


def test_dashboard_queries_parse_and_return_data_in_prometheus(
        prometheus: PrometheusServer) -> None:
    failed = []
    for title, expr in dashboard_queries():
        try:
            if not prometheus.query(substitute_variables(expr)):
                failed.append(f"{title}: no data from {expr}")
        except PrometheusQueryError as error:  # bad_data: the expression does not parse
            failed.append(f"{title}: {error}")
    assert failed == [], "every HeatWatch metric is scraped, yet these queries fail"


def test_dashboard_variable_finds_the_job(prometheus: PrometheusServer) -> None:
    jobs = prometheus.api("/api/v1/label/job/values", {"match[]": "heatwatch_build_info"})
    assert jobs == ["heatwatch"]


def test_prometheus_loads_the_alerting_rules(prometheus: PrometheusServer) -> None:
    groups = prometheus.api("/api/v1/rules")["groups"]
    loaded = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert set(loaded) == {rule["alert"] for rule in alert_rules()}
    for name, rule in loaded.items():
        assert rule["health"] in ("ok", "unknown"), (name, rule.get("lastError"))
        prometheus.query(rule["query"])  # parses as PromQL


# --- The operating section ---


def operating_section() -> str:
    """docs/operating.md, "Operating HeatWatch" (moved there from the README, #29)."""
    text = OPERATING.read_text()
    assert text.startswith("# Operating HeatWatch\n")
    return text


def test_operating_section_documents_every_metric_and_alert() -> None:
    text = operating_section()
    for spec in HEATWATCH_METRICS:
        assert f"`{spec.name}`" in text, spec.name
    for rule in alert_rules():
        assert rule["alert"] in text, rule["alert"]
    assert "heatwatch-dashboard.json" in text and "DS_PROMETHEUS" in text
