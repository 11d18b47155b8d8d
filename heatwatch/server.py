"""`create_app(settings)`: the aiohttp application, its routes and its background jobs.

Start-up order (cleanup_ctx, in order): storage -> rules -> card charts -> the bot
(`bots.runtime`) and its token source -> signing keys -> Graph reconciliation -> replica
heartbeat -> delivery workers -> the alert receivers -> escalation checks -> on-call overrides
-> Teams Shifts -> handoff cards -> audit retention -> retention of deliveries, incidents and
reactions -> the InfluxDB poller -> rules reload (SIGHUP, file changes) -> the separate metrics
listener (METRICS_PORT). `/metrics` itself: `heatwatch.observability`. Shutdown runs them in
reverse after aiohttp has stopped accepting and drained in-flight requests: the poller stops,
in-flight sends finish, jobs are cancelled and awaited, then clients, then storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp import web

from bots.auth import refresh_signing_keys
from bots.endpoint import MAX_BODY_BYTES
from bots.observed import observed_type
from bots.runtime import BotRuntime
from common.clock import utcnow
from common.logs import QUIET_CLIENT_ERRORS
from common.metrics import Metrics
from common.retry import Backoff, run_forever
from common.settings import Settings
from common.tokens import TokenSource, token_source_for
from heatwatch.components import feed_link, feed_sender, graph_installer
from heatwatch.listen import check_data_directory, listen
from heatwatch.observability import (
    METRICS,
    METRICS_SOCKET,
    CountingSink,
    add_metrics_route,
    announce,
    metrics_listener_ctx,
    watch_state,
)
from heatwatch.reload import RulesReloader
from notifier.alerts.events import INFLUXDB
from notifier.alerts.routes import LabelRouting, load_routes
from notifier.alerts.routing import SourceRouter, SourceRouting
from notifier.alerts.schedules import OnCallRouting, Schedules, load_schedules
from notifier.alerts.sink import AlertSink
from notifier.alerts.store import AlertStore
from notifier.chat.access import Operators
from notifier.chat.actions import AlertActions
from notifier.chat.commands import Commands
from notifier.chat.oncall import OnCallDesk
from notifier.chat.operating import OperatingCommands
from notifier.chat.report import ExposureReader
from notifier.delivery.charts import ChartMaker
from notifier.delivery.escalation import Escalator
from notifier.delivery.handoff import Handoffs
from notifier.delivery.paging import PagingReader
from notifier.delivery.planner import OutboxSink
from notifier.delivery.ratelimit import DeliveryLimiter
from notifier.delivery.workers import DeliveryWorker
from notifier.inbound import alertmanager, grafana, influxdb
from notifier.inbound.receiver import Receiver, error
from notifier.inbound.silences import Silences
from notifier.install.graph import graph_client
from notifier.install.reconcile import Reconciler
from notifier.install.shifts import REFRESH_SECONDS as SHIFTS_REFRESH_SECONDS
from notifier.install.shifts import ShiftsReader
from notifier.monitoring.exposure import exposure_reader
from notifier.monitoring.monitor import Monitor
from notifier.monitoring.rules import Rule, RuleRouting, load_rules
from notifier.monitoring.sources import build_source, history_reader
from storage.alert_state import AlertStateStore
from storage.audit import AuditLog
from storage.backend import SqlBackend
from storage.database import open_database
from storage.inbound import InboundStore
from storage.outbox import Outbox
from storage.registry import ConversationRegistry
from storage.replicas import ReplicaRegistry
from storage.retention import Retention, RetentionPeriods

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", SqlBackend)
REGISTRY = web.AppKey("registry", ConversationRegistry)
TOKENS = web.AppKey("tokens", TokenSource)
BOT = web.AppKey("bot", BotRuntime)
MONITOR = web.AppKey("monitor", Monitor)
ALERT_SINK = web.AppKey("alert_sink", AlertSink)
RULES = web.AppKey("rules", list[Rule])
WAKE = web.AppKey("delivery_wake", asyncio.Event)
ACTIONS = web.AppKey("actions", AlertActions)
WORKER = web.AppKey("delivery_worker", DeliveryWorker)
LIMITER = web.AppKey("limiter", DeliveryLimiter)
RECONCILER = web.AppKey("reconciler", Reconciler)
ROUTING = web.AppKey("routing", RuleRouting)
COMMANDS = web.AppKey("commands", Commands)
RELOADER = web.AppKey("rules_reloader", RulesReloader)
LABEL_ROUTING = web.AppKey("label_routing", LabelRouting)
RECEIVERS = web.AppKey("receivers", dict[str, Receiver])
ESCALATOR = web.AppKey("escalator", Escalator)
CHARTS = web.AppKey("charts", ChartMaker)
EXPOSURE: web.AppKey[ExposureReader] = web.AppKey("exposure")  # chat's `report` (monitoring)
SCHEDULES = web.AppKey("schedules", Schedules)
ONCALL = web.AppKey("oncall", OnCallDesk)
HANDOFFS = web.AppKey("handoffs", Handoffs)
SHIFTS = web.AppKey("shifts", ShiftsReader)
PAGING = web.AppKey("paging", PagingReader)
AUDIT_PRUNE_SECONDS = 3600.0
RETENTION_PRUNE_SECONDS = 600.0
SIGNING_KEYS_REFRESH_SECONDS = 12 * 3600


async def stop_task(task: asyncio.Task[None], grace: float = 5.0) -> None:
    """Cancel a background job and wait for it, but never hang shutdown on it."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        log.error("Background job %s did not stop within %gs; leaving it", task.get_name(), grace)
    elif not task.cancelled() and task.exception() is not None:
        log.error("Background job %s had failed: %r", task.get_name(), task.exception())


async def storage_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    database = await open_database(settings.database_url, settings.database_pool_size)
    database.on_error = app[METRICS].database_error
    watch_state(app[METRICS], database)
    app[DATABASE] = database
    app[REGISTRY] = ConversationRegistry(database)
    yield
    await database.close()


async def rules_ctx(app: web.Application) -> AsyncIterator[None]:
    """Alert rules, validated before anything else starts (a bad file stops the start)."""
    settings = app[SETTINGS]
    if settings.monitoring or settings.rules_file.is_file():
        app[RULES] = load_rules(settings.rules_file)
    else:
        app[RULES] = []
    app[ROUTING] = RuleRouting(app[RULES])
    app[LABEL_ROUTING] = LabelRouting(load_routes(settings.rules_file))
    app[SCHEDULES] = Schedules(load_schedules(settings.rules_file))
    app[WAKE] = asyncio.Event()
    yield


async def charts_ctx(app: web.Application) -> AsyncIterator[None]:
    """Trend charts on the monitoring's cards, read from InfluxDB by every replica (a replica
    that does not poll still renders cards)."""
    settings = app[SETTINGS]
    if not settings.monitoring:
        app[CHARTS] = ChartMaker(None)
        yield
        return
    source = build_source(settings.influx)
    app[CHARTS] = ChartMaker(history_reader(source, app[RULES]))
    app[EXPOSURE] = exposure_reader(source, app[RULES], AlertStore(app[DATABASE]))
    yield
    await app[CHARTS].close()
    await source.close()


def source_routing(app: web.Application, resolve: bool = True) -> SourceRouter:
    """Each source's routing: the monitoring's rules, the receivers' [[route]] tables; their
    `oncall:<schedule>` targets name whoever is on call when they are asked for (unless not
    `resolve`: as the rules file says them, for the cards' on-call lines)."""
    schedules = app[SCHEDULES]

    def routed(routing: SourceRouting) -> SourceRouting:
        return OnCallRouting(routing, schedules, utcnow) if resolve else routing

    rules, labels = routed(app[ROUTING]), routed(app[LABEL_ROUTING])
    return SourceRouter({INFLUXDB: rules, alertmanager.SOURCE: labels,
                         grafana.SOURCE: labels, influxdb.SOURCE: labels})


async def bot_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    tokens = token_source_for(settings)
    if tokens is not None:
        app[TOKENS] = tokens
    actions = AlertActions(app[DATABASE], app[WAKE], Operators.of(settings.operators))
    actions.charts = app[CHARTS]
    app[PAGING] = actions.access.paging = PagingReader(
        app[DATABASE], source_routing(app, resolve=False), app[SCHEDULES])
    app[ACTIONS] = actions
    operating = OperatingCommands(app[DATABASE], source_routing(app), app[WAKE])
    desk = OnCallDesk(app[DATABASE], app[SCHEDULES], Operators.of(settings.operators).people)
    await desk.refresh(utcnow())
    app[ONCALL] = desk
    commands = Commands(actions, AlertStateStore(app[DATABASE]), app[RULES], operating,
                        app.get(EXPOSURE), oncall=desk)
    app[COMMANDS] = commands
    # One limiter for alerts and replies: both count against Teams' per-conversation limits.
    limiter = DeliveryLimiter(settings.tenant_send_limit)
    app[LIMITER] = limiter
    bot = BotRuntime(settings, tokens, app[DATABASE], actions, commands, limiter, app[WAKE])
    app[BOT] = bot
    yield
    await bot.close()
    if tokens is not None:
        await tokens.close()


async def signing_keys_ctx(app: web.Application) -> AsyncIterator[None]:
    """Keep the Bot Framework signing keys fresh off the event loop (authenticated mode only)."""
    settings = app[SETTINGS]
    if settings.anonymous:
        yield
        return

    session = aiohttp.ClientSession()

    async def refresh() -> float:
        await refresh_signing_keys(settings, session)
        return SIGNING_KEYS_REFRESH_SECONDS

    task = asyncio.create_task(
        run_forever(refresh, what="Refreshing the signing keys", log=log), name="signing-keys")
    yield
    await stop_task(task)
    await session.close()


async def graph_ctx(app: web.Application) -> AsyncIterator[None]:
    """Install the app for ALERT_RECIPIENTS and the schedules' people through Graph, at start
    and then periodically."""
    settings = app[SETTINGS]
    schedules = app[SCHEDULES]

    def recipients() -> tuple[str, ...]:
        """Everyone who must be reachable: ALERT_RECIPIENTS and the schedules' people."""
        return tuple(dict.fromkeys(settings.alert_recipients + schedules.people()))

    # Schedules' people may come later (Teams Shifts, a rules reload): with the bot's identity
    # and the manifest id, the reconciler runs and asks `recipients()` on every pass.
    if TOKENS not in app or not (settings.teams_app_id or settings.alert_recipients):
        if schedules.people() and TOKENS in app:
            log.warning("On-call schedules name people, but TEAMS_APP_ID is empty: HeatWatch "
                        "cannot install itself for them through Graph (set TEAMS_APP_ID)")
        yield
        return
    reconciler = Reconciler(graph_installer(settings, app[TOKENS], app[REGISTRY], app[METRICS]),
                            app[REGISTRY], recipients, settings.reconcile_interval)
    app[RECONCILER] = reconciler
    task = asyncio.create_task(reconciler.run(), name="graph-reconcile")
    yield
    await stop_task(task)


HEARTBEAT_SECONDS = 5.0


async def share_limits(db: SqlBackend, limiter: DeliveryLimiter, replica_id: str,
                       cap: float, interval: float = HEARTBEAT_SECONDS,
                       metrics: Metrics | None = None) -> None:
    """Heartbeat this replica and keep its share of the per-tenant send cap current."""
    replicas = ReplicaRegistry(db)
    known = 1

    async def beat() -> float:
        nonlocal known
        now = utcnow()
        await replicas.heartbeat(replica_id, now)
        live = max(1, await replicas.live(now, within=3 * interval))
        if metrics is not None:
            metrics.replicas_live.set(live)
        if live != known:
            share = limiter.share(live)
            log.info("%d replicas share the database; this one sends up to %g messages "
                     "per second per tenant", live, share if cap > 0 else float("inf"))
            known = live
        return interval

    # On failure the share for the last known number of replicas stays in force.
    await run_forever(beat, what="The replica heartbeat", log=log,
                      backoff=Backoff(interval, 6 * interval))


async def replicas_ctx(app: web.Application) -> AsyncIterator[None]:
    """Replicas on one database split Teams' per-tenant cap between them."""
    if not app[DATABASE].shared:  # one process has the whole cap; nothing to count
        yield
        return
    replica_id = uuid.uuid4().hex[:12]
    task = asyncio.create_task(share_limits(app[DATABASE], app[LIMITER], replica_id,
                                            app[SETTINGS].tenant_send_limit,
                                            metrics=app[METRICS]), name="replicas")
    yield
    await stop_task(task)
    with contextlib.suppress(Exception):
        await ReplicaRegistry(app[DATABASE]).leave(replica_id)


async def delivery_ctx(app: web.Application) -> AsyncIterator[None]:
    """The outbox sink alert events go to, and the workers that send what it holds. On
    shutdown, in-flight sends may finish (SHUTDOWN_TIMEOUT_SECONDS); the rest stays pending
    in the outbox for the next start."""
    settings = app[SETTINGS]
    database = app[DATABASE]
    if ALERT_SINK not in app:
        # Each source routes its own events.
        routing = source_routing(app)
        app[ALERT_SINK] = CountingSink(
            OutboxSink(database, routing, app[WAKE], update_window=settings.incident_update_window,
                       feed_link=feed_link(settings) if TOKENS in app else None,
                       reach=app[RECONCILER].reach if RECONCILER in app else None),
            app[METRICS])
    if not database.shared:  # one process: leases of its previous run are void
        released = await Outbox(database).release_leases()
        if released:
            log.info("Resuming %d delivery(ies) that were in flight at the last stop", released)
    worker = DeliveryWorker(
        database, app[BOT].sender,
        app[LIMITER], wake=app[WAKE],
        concurrency=settings.delivery_concurrency,
        max_attempts=settings.delivery_max_attempts,
        give_up_after=settings.delivery_give_up_after, backoff_base=settings.delivery_backoff,
        lease_seconds=settings.delivery_lease, send_timeout=30.0,
        on_uninstalled=app[RECONCILER].reinstall if RECONCILER in app else None,
        metrics=app[METRICS], charts=app[CHARTS], paging=app[PAGING],
        feed=feed_sender(settings, app[TOKENS], app[METRICS]) if TOKENS in app else None)
    app[WORKER] = worker
    log.info("Delivery worker %s started (leases of %gs, renewed while it runs)", worker.owner,
             settings.delivery_lease)
    task = asyncio.create_task(worker.run(), name="delivery")
    yield
    await worker.drain(settings.shutdown_timeout)
    await stop_task(task)


async def inbound_ctx(app: web.Application) -> AsyncIterator[None]:
    """The alert receivers (POST /api/alerts/<name>) and silences from cards."""
    settings = app[SETTINGS]
    inbound = settings.inbound
    lock = asyncio.Lock()
    store = InboundStore(app[DATABASE])
    readers = {"alertmanager": lambda payload, now: alertmanager.events(
                   alertmanager.parse(payload), now),
               "grafana": lambda payload, now: grafana.events(grafana.parse(payload), now),
               "influxdb": influxdb.events}
    app[RECEIVERS] = {
        name: Receiver(name, inbound.receiver(name), read, app[ALERT_SINK], store, lock,
                       inbound.max_bytes, app[METRICS], inbound.read_timeout)
        for name, read in readers.items()}
    app[ACTIONS].silences = Silences(app[DATABASE], inbound, app[WAKE])
    enabled = [name for name, receiver in app[RECEIVERS].items() if receiver.settings.enabled]
    if enabled:
        log.info("Alert receivers enabled: %s (POST /api/alerts/<name>)", ", ".join(enabled))
    yield


async def escalation_ctx(app: web.Application) -> AsyncIterator[None]:
    """Escalate critical incidents nobody acknowledged (rules' `escalate_after`/`escalate_to`).
    Every replica checks; each step happens once (see notifier/delivery/escalation.py)."""
    escalator = Escalator(app[DATABASE], source_routing(app), app[WAKE],
                          feed_link=feed_link(app[SETTINGS]) if TOKENS in app else None,
                          reach=app[RECONCILER].reach if RECONCILER in app else None)
    app[ESCALATOR] = escalator
    task = asyncio.create_task(run_forever(escalator.step, what="Checking escalations",
                                           log=log), name="escalation")
    yield
    await stop_task(task)


async def oncall_ctx(app: web.Application) -> AsyncIterator[None]:
    """Read the on-call overrides taken in chat (on any replica) every few seconds."""
    desk = app[ONCALL]

    async def step() -> float:
        return await desk.step(utcnow())

    task = asyncio.create_task(run_forever(step, what="Reading on-call overrides", log=log),
                               name="oncall-overrides")
    yield
    await stop_task(task)


async def shifts_ctx(app: web.Application) -> AsyncIterator[None]:
    """Schedules backed by Teams Shifts: read through Graph at start and every few minutes
    (with the bot's identity); when Graph fails, the last schedule read holds."""
    if TOKENS not in app:
        yield
        return
    settings = app[SETTINGS]
    reader = ShiftsReader(graph_client(app[TOKENS], settings.cloud.graph_base_url,
                                       app[METRICS].graph_request), app[SCHEDULES])
    app[SHIFTS] = reader

    async def step() -> float:
        await reader.read(utcnow())
        return SHIFTS_REFRESH_SECONDS

    task = asyncio.create_task(run_forever(step, what="Reading Teams Shifts", log=log),
                               name="shifts")
    yield
    await stop_task(task)


async def handoff_ctx(app: web.Application) -> AsyncIterator[None]:
    """The handoff card for whoever a schedule hands over to (every replica checks; each
    handoff is greeted once, see notifier/delivery/handoff.py)."""
    handoffs = Handoffs(app[DATABASE], app[SCHEDULES], app[WAKE])
    app[HANDOFFS] = handoffs
    task = asyncio.create_task(run_forever(handoffs.step, what="Checking on-call handoffs",
                                           log=log), name="handoffs")
    yield
    await stop_task(task)


async def audit_retention_ctx(app: web.Application) -> AsyncIterator[None]:
    """Delete audit entries older than AUDIT_RETENTION_DAYS, hourly."""
    audit = AuditLog(app[DATABASE])
    keep = timedelta(days=app[SETTINGS].audit_retention_days)

    async def prune() -> float:
        deleted = await audit.prune(utcnow() - keep)
        if deleted:
            log.info("Deleted %d audit entries older than %g days", deleted, keep.days)
        return AUDIT_PRUNE_SECONDS

    task = asyncio.create_task(run_forever(prune, what="Pruning the audit trail", log=log),
                               name="audit-retention")
    yield
    await stop_task(task)


async def retention_ctx(app: web.Application) -> AsyncIterator[None]:
    """Delete finished deliveries, resolved incidents and old reactions past their periods
    (DELIVERY_RETENTION_HOURS, INCIDENT_RETENTION_DAYS, REACTION_RETENTION_DAYS), every
    RETENTION_PRUNE_SECONDS, in bounded batches (storage/retention.py)."""
    settings = app[SETTINGS]
    retention = Retention(app[DATABASE], RetentionPeriods(
        delivery_age=timedelta(hours=settings.delivery_retention_hours),
        incident_age=timedelta(days=settings.incident_retention_days),
        reaction_age=timedelta(days=settings.reaction_retention_days)))

    async def prune() -> float:
        deleted = await retention.prune(utcnow())
        if deleted:
            log.info("Retention deleted %s", ", ".join(f"{count} {table}" for table, count
                                                        in sorted(deleted.items())))
        return RETENTION_PRUNE_SECONDS

    task = asyncio.create_task(run_forever(prune, what="Pruning old rows", log=log),
                               name="retention")
    yield
    await stop_task(task)


async def monitor_ctx(app: web.Application) -> AsyncIterator[None]:
    """Poll InfluxDB in the background (when MONITORING_ENABLED)."""
    settings = app[SETTINGS]
    if not settings.monitoring:
        log.info("Monitoring is off (MONITORING_ENABLED=false)")
        yield
        return
    rules = app[RULES]
    source = build_source(settings.influx)
    sink = app[ALERT_SINK]
    metrics = app[METRICS]
    monitor = Monitor(list(rules), source, AlertStateStore(app[DATABASE]), sink,
                      interval=settings.poll_interval, down_after=settings.source_down_after,
                      metrics=metrics)
    app[MONITOR] = monitor

    async def role() -> None:
        metrics.poller_leader.set(1 if monitor.leading else 0)
        metrics.source_up.set(1 if monitor.health.healthy else 0)

    metrics.on_scrape("the poller", role)
    log.info("Watching %d rule(s) in %s every %gs", len(rules), source.description,
             settings.poll_interval)
    # One poller among replicas sharing a database: a lost leader is noticed by the database
    # within max(3 intervals, 30 s); a leader that exits frees the lease at once.
    leadership = app[DATABASE].leadership("influx-poller",
                                         lost_after=max(3 * settings.poll_interval, 30.0))
    task = asyncio.create_task(monitor.run(leadership), name="monitor")
    yield
    await stop_task(task)
    await leadership.release()
    await source.close()


async def rules_reload_ctx(app: web.Application) -> AsyncIterator[None]:
    """Reload the rules on SIGHUP and when the file changes (see heatwatch/reload.py)."""
    settings = app[SETTINGS]
    if not settings.rules_file.is_file():
        yield
        return

    def apply(rules: list[Rule]) -> None:
        app[RULES][:] = rules
        app[ROUTING].update(rules)
        if COMMANDS in app:
            app[COMMANDS].set_rules(rules)
        if MONITOR in app:
            app[MONITOR].set_rules(rules)

    def reroute() -> None:
        app[LABEL_ROUTING].update(load_routes(settings.rules_file))
        app[SCHEDULES].update(load_schedules(settings.rules_file))

    reloader = RulesReloader(settings.rules_file, app[RULES], apply, reroute)
    app[RELOADER] = reloader
    loop = asyncio.get_running_loop()
    hangup = False
    try:
        loop.add_signal_handler(signal.SIGHUP, reloader.check, "SIGHUP", True)
        hangup = True
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
        log.debug("SIGHUP cannot reload the rules here (not the main thread)")
    task = asyncio.create_task(reloader.run(), name="rules-reload")
    yield
    if hangup:
        loop.remove_signal_handler(signal.SIGHUP)
    await stop_task(task)


async def metrics_port_ctx(app: web.Application) -> AsyncIterator[None]:
    async for _ in metrics_listener_ctx(app, app[SETTINGS]):
        yield


async def messages(request: web.Request) -> web.StreamResponse:
    response = await request.app[BOT].endpoint.handle(request)
    request.app[METRICS].activity(observed_type(request), response.status)
    return response


async def alerts(request: web.Request) -> web.Response:
    receiver = request.app[RECEIVERS].get(request.match_info["receiver"])
    if receiver is None:
        return error(404, "not_found", "No such receiver: use /api/alerts/alertmanager, "
                     "/api/alerts/grafana or /api/alerts/influxdb.")
    return await receiver.handle(request)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, Any] = {}
    ready = True
    try:
        await request.app[DATABASE].fetch_one("SELECT 1 AS ok")
        checks["storage"] = "ok"
    except Exception as error:
        checks["storage"] = f"unavailable ({error.__class__.__name__})"
        ready = False
    monitor = request.app.get(MONITOR)
    if monitor is not None:
        # Reported, but not a reason to leave the load balancer: chat must keep working while
        # InfluxDB is down (the outage itself is announced as a source-down alert).
        health = monitor.health
        checks["poller"] = "leader" if monitor.leading else "standby (another replica polls)"
        checks["influxdb"] = (
            "ok" if health.healthy and health.last_success else
            "not polled here" if not monitor.leading else
            "not polled yet" if health.healthy else f"failing: {health.last_error}")
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


def create_app(settings: Settings) -> web.Application:
    """Build the application. No I/O happens until it starts."""
    app = web.Application(client_max_size=MAX_BODY_BYTES + 1)
    logging.getLogger("aiohttp.server").addFilter(QUIET_CLIENT_ERRORS)
    app[SETTINGS] = settings
    app[METRICS] = Metrics(settings.package.version)
    app.cleanup_ctx.append(storage_ctx)
    app.cleanup_ctx.append(rules_ctx)
    app.cleanup_ctx.append(charts_ctx)
    app.cleanup_ctx.append(bot_ctx)
    app.cleanup_ctx.append(signing_keys_ctx)
    app.cleanup_ctx.append(graph_ctx)
    app.cleanup_ctx.append(replicas_ctx)
    app.cleanup_ctx.append(delivery_ctx)
    app.cleanup_ctx.append(inbound_ctx)
    app.cleanup_ctx.append(escalation_ctx)
    app.cleanup_ctx.append(oncall_ctx)
    app.cleanup_ctx.append(shifts_ctx)
    app.cleanup_ctx.append(handoff_ctx)
    app.cleanup_ctx.append(audit_retention_ctx)
    app.cleanup_ctx.append(retention_ctx)
    app.cleanup_ctx.append(monitor_ctx)
    app.cleanup_ctx.append(rules_reload_ctx)
    app.cleanup_ctx.append(metrics_port_ctx)
    app.router.add_post("/api/messages", messages)
    app.router.add_post("/api/alerts/{receiver}", alerts)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    add_metrics_route(app, settings)
    return app


def run(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM: stop accepting, drain requests, then clean up. The ports are
    bound and the data directory checked first (`heatwatch.listen`): a problem there is one
    ConfigError, raised before anything is logged as starting."""
    check_data_directory(settings.database_url)
    listeners = listen(settings)
    if settings.anonymous:
        log.warning(
            "Anonymous local mode: MicrosoftAppId is not set, so requests are not "
            "authenticated; listening on %s only", settings.host
        )
    log.info("Starting HeatWatch on http://%s:%d/api/messages", settings.host,
             listeners.bot.getsockname()[1])
    announce(settings)
    app = create_app(settings)
    if listeners.metrics is not None:
        app[METRICS_SOCKET] = listeners.metrics
    try:
        web.run_app(app, sock=listeners.bot, shutdown_timeout=settings.shutdown_timeout,
                    print=None, access_log=None)
    finally:
        listeners.close()
    log.info("HeatWatch stopped")
