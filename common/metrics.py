"""HeatWatch's Prometheus metrics: one `Metrics` object per application, on its own registry.

Made with the official `prometheus-client` (no hand-written exposition). Each app builds one
`Metrics` in the composition root and hands it to the pieces that count; a piece built without
one counts into `UNCOUNTED`, a registry nobody serves. Not the library's global registry: the
tests build many apps in one process.

Gauges that are reads of state (outbox depth, open alerts, the poller role, InfluxDB reachable)
are filled in at scrape time by the refreshers the composition root registers (`on_scrape`),
never by an extra query per delivery. Label values are bounded: outcomes and kinds are fixed
sets, rule names come from the rules file, activity types from the Bot Framework's list.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)
# No `*_created` series: they double the series count and nothing here uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]

CONTENT_TYPE = CONTENT_TYPE_LATEST
POLL_OUTCOMES = ("ok", "failed")
DELIVERY_OUTCOMES = ("sent", "retried", "throttled", "dead", "parked")
GRAPH_OUTCOMES = ("ok", "failed")
OUTBOX_STATUSES = ("pending", "dead")
PROBE_FAULT_KINDS = ("implausible", "jump", "stuck")  # notifier.monitoring.probes.FaultKind
INBOUND_OUTCOMES = ("accepted", "duplicate", "invalid", "too_large", "unauthorized", "disabled",
                    "failed")
# Seconds; deliveries wait on Teams' limits and retries, so the buckets reach an hour.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
POLL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

Refresher = Callable[[], Awaitable[None]]


class Metrics:
    """Every HeatWatch metric, as attributes, on a private `CollectorRegistry`. `receivers`:
    the alert receivers' names (the composition root passes the source registry's,
    notifier/inbound/sources.py), the only `receiver` label values counted."""

    def __init__(self, version: str = "unknown", receivers: Sequence[str] = ()) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.build_info = Gauge("heatwatch_build_info", "Always 1; the running version in its "
                                "label.", ["version"], registry=registry)
        self.build_info.labels(version=version).set(1)
        self.polls = Counter("heatwatch_polls_total", "Polls of InfluxDB, by outcome.",
                             ["outcome"], registry=registry)
        self.poll_duration = Histogram(
            "heatwatch_poll_duration_seconds",
            "Duration of one poll: every rule's query, evaluation and storing the state.",
            buckets=POLL_BUCKETS, registry=registry)
        self.series_evaluated = Counter("heatwatch_series_evaluated_total",
                                        "Series (one sensor of one rule) evaluated by polls.",
                                        registry=registry)
        self.alerts_open = Gauge("heatwatch_alerts_open", "Alerts open now, by rule and "
                                 "severity.", ["rule", "severity"], registry=registry)
        self.alert_events = Counter("heatwatch_alert_events_total",
                                    "Alert events published, by kind.", ["kind"],
                                    registry=registry)
        self.outbox = Gauge("heatwatch_outbox_deliveries", "Deliveries in the outbox, by status "
                            "(the shared database's count).", ["status"], registry=registry)
        self.table_rows = Gauge("heatwatch_table_rows", "Rows per database table (read at "
                                "scrape time; retention keeps the growing ones bounded).",
                                ["table"], registry=registry)
        self.deliveries = Counter("heatwatch_deliveries_total", "Delivery attempts, by outcome.",
                                  ["outcome"], registry=registry)
        self.delivery_latency = Histogram(
            "heatwatch_delivery_latency_seconds",
            "From enqueueing a delivery to the Bot Connector accepting it.",
            buckets=LATENCY_BUCKETS, registry=registry)
        self.connector_throttled = Counter("heatwatch_connector_throttled_total",
                                           "Bot Connector answers 429 (Teams throttling).",
                                           registry=registry)
        self.graph_requests = Counter("heatwatch_graph_requests_total",
                                      "Microsoft Graph requests, by outcome.", ["outcome"],
                                      registry=registry)
        self.activities = Counter(
            "heatwatch_activities_total",
            "Inbound activities on /api/messages, by activity type and HTTP status answered.",
            ["type", "status"], registry=registry)
        self.database_errors = Counter("heatwatch_database_errors_total",
                                       "Failed database operations.", registry=registry)
        self.replicas_live = Gauge("heatwatch_replicas_live",
                                   "Replicas with a fresh heartbeat in the shared database.",
                                   registry=registry)
        self.poller_leader = Gauge("heatwatch_poller_leader",
                                   "1 on the replica that polls InfluxDB, 0 on a standby.",
                                   registry=registry)
        self.source_up = Gauge("heatwatch_source_up",
                               "1 while InfluxDB is reachable, 0 when not.", registry=registry)
        self.probe_faults = Gauge(
            "heatwatch_probe_faults", "Series whose probe is at fault now (not paged), by kind: "
            "implausible, jump (held for the next reading), stuck.", ["kind"],
            registry=registry)
        for kind in PROBE_FAULT_KINDS:
            self.probe_faults.labels(kind=kind)
        self.inbound_notifications = Counter(
            "heatwatch_inbound_notifications_total",
            "Notifications posted to the alert receivers (/api/alerts/<receiver>), by receiver "
            "and outcome.", ["receiver", "outcome"], registry=registry)
        # Every fixed label value exists from the start, so rate() and absent() work at once.
        for outcome in POLL_OUTCOMES:
            self.polls.labels(outcome=outcome)
        for outcome in DELIVERY_OUTCOMES:
            self.deliveries.labels(outcome=outcome)
        for outcome in GRAPH_OUTCOMES:
            self.graph_requests.labels(outcome=outcome)
        for status in OUTBOX_STATUSES:
            self.outbox.labels(status=status)
        self._receivers = tuple(receivers)
        for receiver in self._receivers:
            for outcome in INBOUND_OUTCOMES:
                self.inbound_notifications.labels(receiver=receiver, outcome=outcome)
        self.replicas_live.set(1)
        self._refreshers: list[tuple[str, Refresher]] = []
        self._refresh_failures: dict[str, str] = {}

    # counting (one call per place that counts) ---------------------------------------------

    def polled(self, ok: bool, seconds: float, series: int) -> None:
        self.polls.labels(outcome="ok" if ok else "failed").inc()
        self.poll_duration.observe(seconds)
        if series:
            self.series_evaluated.inc(series)

    def published(self, kinds: Iterable[str]) -> None:
        for kind in kinds:
            self.alert_events.labels(kind=kind).inc()

    def delivered(self, enqueued: datetime, accepted: datetime) -> None:
        self.deliveries.labels(outcome="sent").inc()
        self.delivery_latency.observe(max(0.0, (accepted - enqueued).total_seconds()))

    def delivery(self, outcome: str) -> None:
        """A delivery that was not sent this time: retried, throttled, dead or parked."""
        self.deliveries.labels(outcome=outcome).inc()

    def graph_request(self, ok: bool) -> None:
        self.graph_requests.labels(outcome="ok" if ok else "failed").inc()

    def activity(self, activity_type: str, status: int) -> None:
        self.activities.labels(type=activity_type, status=str(status)).inc()

    def inbound(self, receiver: str, outcome: str) -> None:
        """A notification posted to an alert receiver (both labels from fixed sets)."""
        if receiver in self._receivers and outcome in INBOUND_OUTCOMES:
            self.inbound_notifications.labels(receiver=receiver, outcome=outcome).inc()

    def database_error(self) -> None:
        self.database_errors.inc()

    def set_open_alerts(self, counts: dict[tuple[str, str], int]) -> None:
        """Replace the open alerts gauge: {(rule, severity): count}."""
        self.alerts_open.clear()
        for (rule, severity), count in counts.items():
            self.alerts_open.labels(rule=rule, severity=severity).set(count)

    def set_probe_faults(self, counts: dict[str, int]) -> None:
        for kind in PROBE_FAULT_KINDS:
            self.probe_faults.labels(kind=kind).set(counts.get(kind, 0))

    def set_outbox(self, counts: dict[str, int]) -> None:
        for status in OUTBOX_STATUSES:
            self.outbox.labels(status=status).set(counts.get(status, 0))

    def set_table_rows(self, counts: dict[str, int]) -> None:
        for table, count in counts.items():
            self.table_rows.labels(table=table).set(count)

    # exposition ----------------------------------------------------------------------------

    def on_scrape(self, name: str, refresher: Refresher) -> None:
        """Run `refresher` before each scrape (reads of state). A failing one leaves the last
        values and is logged once per distinct problem."""
        self._refreshers.append((name, refresher))

    async def render(self) -> bytes:
        for name, refresher in self._refreshers:
            try:
                await refresher()
            except Exception as error:
                problem = f"{error.__class__.__name__}: {error}"
                if self._refresh_failures.get(name) != problem:
                    log.warning("Metrics: cannot read %s (%s); serving the last values",
                                name, problem)
                self._refresh_failures[name] = problem
            else:
                self._refresh_failures.pop(name, None)
        return generate_latest(self.registry)


# What pieces built without a `Metrics` count into: served by nobody.
UNCOUNTED = Metrics()
