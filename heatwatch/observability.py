"""`/metrics` for Prometheus: who may read it, where it is served, and the reads of state done
at scrape time (outbox depth, open alerts, rows per table, the poller's role).

Where (settings, docs/operating.md *Scraping `/metrics`*):
  anonymous mode                      -> on the bot's port, open (loopback only anyway)
  METRICS_PORT set                    -> its own listener on METRICS_HOST (default 127.0.0.1),
                                         not on the bot's port
  METRICS_BEARER_TOKEN set            -> wherever it is served, `Authorization: Bearer <token>`
                                         is required (constant-time compare, else 401)
  an app id and neither               -> not served (404), and the start says how to enable it
"""

from __future__ import annotations

import hmac
import logging
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from common.metrics import CONTENT_TYPE, Metrics
from common.settings import Settings
from notifier.alerts.events import AlertEvent, EventKind
from notifier.alerts.record import AlertRecord
from notifier.alerts.sink import AlertSink
from notifier.alerts.store import AlertStore
from storage.backend import SqlBackend
from storage.outbox import Outbox
from storage.retention import table_rows

log = logging.getLogger(__name__)

METRICS = web.AppKey("metrics", Metrics)
# The METRICS_PORT socket bound before start (heatwatch/listen.py); without it, bound here.
METRICS_SOCKET = web.AppKey("metrics_socket", socket.socket)
METRICS_BOUND_PORT = web.AppKey("metrics_bound_port", int)  # the METRICS_PORT listener's
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class CountingSink:
    """The app's alert sink, counting the events it made durable, by kind."""

    def __init__(self, sink: AlertSink, metrics: Metrics) -> None:
        self._sink = sink
        self._metrics = metrics

    async def publish(self, events: list[AlertEvent]) -> None:
        await self._sink.publish(events)
        self._metrics.published(event.kind.value for event in events)


def authorized(header: str | None, token: str) -> bool:
    if not token:
        return True
    scheme, _, value = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(),
                                                              token.encode())


def metrics_handler(metrics: Metrics, token: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        if not authorized(request.headers.get("Authorization"), token):
            return web.json_response(
                {"error": {"code": "Unauthorized",
                           "message": "/metrics needs Authorization: Bearer <token>."}},
                status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        body = await metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
    return handle


def open_alert_labels(alert: AlertRecord) -> tuple[str, str]:
    """(rule, severity) of an open alert: severity warn/crit, or no_data; a data source
    outage is rule "source-down", severity crit."""
    event = alert.incident
    if event.kind is EventKind.NO_DATA:
        severity = "no_data"
    else:
        severity = event.severity.value if event.severity else "crit"
    return alert.rule or event.rule or "source-down", severity


def watch_state(metrics: Metrics, database: SqlBackend) -> None:
    """Reads of state, at scrape time: three queries per scrape, none per delivery."""
    outbox, alerts = Outbox(database), AlertStore(database)

    async def outbox_depth() -> None:
        metrics.set_outbox(await outbox.counts())

    async def open_alerts() -> None:
        metrics.set_open_alerts(dict(Counter(map(open_alert_labels,
                                                 await alerts.open_alerts()))))

    async def table_sizes() -> None:
        metrics.set_table_rows(await table_rows(database))

    metrics.on_scrape("the outbox", outbox_depth)
    metrics.on_scrape("the open alerts", open_alerts)
    metrics.on_scrape("the table sizes", table_sizes)


def add_metrics_route(app: web.Application, settings: Settings) -> None:
    """/metrics on the bot's port when allowed there; see the module docstring."""
    if settings.metrics_exposure in ("open", "token"):
        app.router.add_get("/metrics", metrics_handler(app[METRICS], settings.metrics_token))


def announce(settings: Settings) -> None:
    """One line at start saying where /metrics is (or how to enable it)."""
    exposure = settings.metrics_exposure
    if exposure == "off":
        log.info("Prometheus metrics are off: with MicrosoftAppId set, /metrics is not served "
                 "on the public port. Set METRICS_BEARER_TOKEN (scrape with that bearer token) "
                 "or METRICS_PORT (a separate listener on METRICS_HOST, default 127.0.0.1) to "
                 "enable it")
    elif exposure == "token":
        log.info("Serving Prometheus metrics at /metrics on the bot's port (bearer token "
                 "required)")
    elif exposure == "open":
        log.info("Serving Prometheus metrics at http://%s:%d/metrics", settings.host,
                 settings.port)


async def metrics_listener_ctx(app: web.Application, settings: Settings) -> AsyncIterator[None]:
    """The separate metrics listener (METRICS_PORT on METRICS_HOST)."""
    if settings.metrics_port is None:
        yield
        return
    listener = web.Application()
    listener.router.add_get("/metrics", metrics_handler(app[METRICS], settings.metrics_token))
    runner = web.AppRunner(listener, access_log=None)
    await runner.setup()
    sock = app.get(METRICS_SOCKET)
    site: web.BaseSite = (web.SockSite(runner, sock) if sock is not None else
                          web.TCPSite(runner, settings.metrics_host, settings.metrics_port))
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else settings.metrics_port
    app[METRICS_BOUND_PORT] = bound
    log.info("Serving Prometheus metrics at http://%s:%d/metrics%s", settings.metrics_host,
             bound, " (bearer token required)" if settings.metrics_token else "")
    yield
    await runner.cleanup()

