"""`create_app(settings)`: the aiohttp application, its routes and its background jobs.

The app holds one typed object, `Services` (heatwatch/services.py: every piece built once, with
constructor injection), under `SERVICES`, and the metrics under `METRICS`. The background jobs
are cleanup_ctx generators, in order: the services (database, rules file, every piece) ->
signing keys -> Graph reconciliation -> replica heartbeat -> delivery workers -> escalation
checks -> on-call overrides -> Teams Shifts -> handoff cards -> audit retention -> retention of
deliveries, incidents and reactions -> the InfluxDB poller -> rules reload (SIGHUP, file
changes) -> the separate metrics listener (METRICS_PORT). `/metrics` itself:
`heatwatch.observability`. Shutdown runs them in reverse after aiohttp has stopped accepting
and drained in-flight requests: the poller stops, in-flight sends finish, jobs are cancelled
and awaited, then clients, then storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import aiohttp
from aiohttp import web

from bots.auth import refresh_signing_keys
from bots.endpoint import MAX_BODY_BYTES
from bots.observed import observed_type
from common.clock import utcnow
from common.logs import QUIET_CLIENT_ERRORS
from common.metrics import Metrics
from common.retry import Backoff, run_forever
from common.settings import Settings
from heatwatch.listen import check_data_directory, listen
from heatwatch.observability import (
    METRICS,
    METRICS_SOCKET,
    add_metrics_route,
    announce,
    metrics_listener_ctx,
)
from heatwatch.services import Services, open_services
from notifier.alerts.sink import AlertSink
from notifier.delivery.ratelimit import DeliveryLimiter
from notifier.inbound.receiver import error
from notifier.inbound.sources import RECEIVERS, receiver_paths, unknown_receivers
from notifier.install.shifts import REFRESH_SECONDS as SHIFTS_REFRESH_SECONDS
from storage.audit import AuditLog
from storage.backend import SqlBackend
from storage.outbox import Outbox
from storage.replicas import ReplicaRegistry
from storage.retention import Retention, RetentionPeriods

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", Services)  # every piece, built once (heatwatch/services.py)
AUDIT_PRUNE_SECONDS = 3600.0
RETENTION_PRUNE_SECONDS = 600.0
SIGNING_KEYS_REFRESH_SECONDS = 12 * 3600
Job = Callable[[web.Application], AsyncIterator[None]]


async def stop_task(task: asyncio.Task[None], grace: float = 5.0) -> None:
    """Cancel a background job and wait for it, but never hang shutdown on it."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        log.error("Background job %s did not stop within %gs; leaving it", task.get_name(), grace)
    elif not task.cancelled() and task.exception() is not None:
        log.error("Background job %s had failed: %r", task.get_name(), task.exception())


def services_ctx(sink: AlertSink | None) -> Job:
    """Open the database, read the rules file and build every piece (heatwatch/services.py);
    close them last."""
    async def services(app: web.Application) -> AsyncIterator[None]:
        app[SERVICES] = built = await open_services(app[SETTINGS], app[METRICS], sink)
        enabled = [name for name, receiver in built.receivers.items()
                   if receiver.settings.enabled]
        if enabled:
            log.info("Alert receivers enabled: %s (POST /api/alerts/<name>)", ", ".join(enabled))
        if unknown := unknown_receivers(built.settings.inbound):
            log.warning("%s", unknown)
        yield
        await built.close()

    return services


async def forever(step: Callable[[], Awaitable[float]], what: str,
                  name: str) -> AsyncIterator[None]:
    """One background job: `step` again after the seconds it returns, every failure logged
    once (`run_forever`), until shutdown."""
    task = asyncio.create_task(run_forever(step, what=what, log=log), name=name)
    yield
    await stop_task(task)


async def signing_keys_ctx(app: web.Application) -> AsyncIterator[None]:
    """Keep the Bot Framework signing keys fresh off the event loop (authenticated mode only)."""
    settings = app[SERVICES].settings
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
    services = app[SERVICES]
    reconciler = services.reconciler
    if reconciler is None:
        if services.rules.schedules.people() and services.tokens is not None:
            log.warning("On-call schedules name people, but TEAMS_APP_ID is empty: HeatWatch "
                        "cannot install itself for them through Graph (set TEAMS_APP_ID)")
        yield
        return
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
    services = app[SERVICES]
    if not services.database.shared:  # one process has the whole cap; nothing to count
        yield
        return
    replica_id = uuid.uuid4().hex[:12]
    task = asyncio.create_task(share_limits(services.database, services.limiter, replica_id,
                                            services.settings.tenant_send_limit,
                                            metrics=services.metrics), name="replicas")
    yield
    await stop_task(task)
    with contextlib.suppress(Exception):
        await ReplicaRegistry(services.database).leave(replica_id)


async def delivery_ctx(app: web.Application) -> AsyncIterator[None]:
    """The workers that send what the outbox holds. On shutdown, in-flight sends may finish
    (SHUTDOWN_TIMEOUT_SECONDS); the rest stays pending in the outbox for the next start."""
    services = app[SERVICES]
    settings, database, worker = services.settings, services.database, services.worker
    if not database.shared:  # one process: leases of its previous run are void
        released = await Outbox(database).release_leases()
        if released:
            log.info("Resuming %d delivery(ies) that were in flight at the last stop", released)
    log.info("Delivery worker %s started (leases of %gs, renewed while it runs)", worker.owner,
             settings.delivery_lease)
    task = asyncio.create_task(worker.run(), name="delivery")
    yield
    await worker.drain(settings.shutdown_timeout)
    await stop_task(task)


async def escalation_ctx(app: web.Application) -> AsyncIterator[None]:
    """Escalate critical incidents nobody acknowledged (rules' `escalate_after`/`escalate_to`).
    Every replica checks; each step happens once (see notifier/delivery/escalation.py)."""
    async for _ in forever(app[SERVICES].escalator.step, "Checking escalations", "escalation"):
        yield


async def oncall_ctx(app: web.Application) -> AsyncIterator[None]:
    """Read the on-call overrides taken in chat (on any replica): at start, then every few
    seconds."""
    desk = app[SERVICES].oncall
    await desk.refresh(utcnow())

    async def step() -> float:
        return await desk.step(utcnow())

    async for _ in forever(step, "Reading on-call overrides", "oncall-overrides"):
        yield


async def shifts_ctx(app: web.Application) -> AsyncIterator[None]:
    """Schedules backed by Teams Shifts: read through Graph at start and every few minutes
    (with the bot's identity); when Graph fails, the last schedule read holds."""
    reader = app[SERVICES].shifts
    if reader is None:
        yield
        return

    async def step() -> float:
        await reader.read(utcnow())
        return SHIFTS_REFRESH_SECONDS

    async for _ in forever(step, "Reading Teams Shifts", "shifts"):
        yield


async def handoff_ctx(app: web.Application) -> AsyncIterator[None]:
    """The handoff card for whoever a schedule hands over to (every replica checks; each
    handoff is greeted once, see notifier/delivery/handoff.py)."""
    async for _ in forever(app[SERVICES].handoffs.step, "Checking on-call handoffs",
                           "handoffs"):
        yield


async def audit_retention_ctx(app: web.Application) -> AsyncIterator[None]:
    """Delete audit entries older than AUDIT_RETENTION_DAYS, hourly."""
    services = app[SERVICES]
    audit = AuditLog(services.database)
    keep = timedelta(days=services.settings.audit_retention_days)

    async def prune() -> float:
        deleted = await audit.prune(utcnow() - keep)
        if deleted:
            log.info("Deleted %d audit entries older than %g days", deleted, keep.days)
        return AUDIT_PRUNE_SECONDS

    async for _ in forever(prune, "Pruning the audit trail", "audit-retention"):
        yield


async def retention_ctx(app: web.Application) -> AsyncIterator[None]:
    """Delete finished deliveries, resolved incidents and old reactions past their periods
    (DELIVERY_RETENTION_HOURS, INCIDENT_RETENTION_DAYS, REACTION_RETENTION_DAYS), every
    RETENTION_PRUNE_SECONDS, in bounded batches (storage/retention.py)."""
    settings = app[SERVICES].settings
    retention = Retention(app[SERVICES].database, RetentionPeriods(
        delivery_age=timedelta(hours=settings.delivery_retention_hours),
        incident_age=timedelta(days=settings.incident_retention_days),
        reaction_age=timedelta(days=settings.reaction_retention_days)))

    async def prune() -> float:
        deleted = await retention.prune(utcnow())
        if deleted:
            log.info("Retention deleted %s", ", ".join(f"{count} {table}" for table, count
                                                        in sorted(deleted.items())))
        return RETENTION_PRUNE_SECONDS

    async for _ in forever(prune, "Pruning old rows", "retention"):
        yield


async def monitor_ctx(app: web.Application) -> AsyncIterator[None]:
    """Poll InfluxDB in the background (when MONITORING_ENABLED)."""
    services = app[SERVICES]
    settings, monitor, metrics = services.settings, services.monitor, services.metrics
    if monitor is None:
        log.info("Monitoring is off (MONITORING_ENABLED=false)")
        yield
        return

    async def role() -> None:
        metrics.poller_leader.set(1 if monitor.leading else 0)
        metrics.source_up.set(1 if monitor.health.healthy else 0)

    metrics.on_scrape("the poller", role)
    log.info("Watching %d rule(s) in %s every %gs", len(services.rules.rules),
             monitor.source.description, settings.poll_interval)
    # One poller among replicas sharing a database: a lost leader is noticed by the database
    # within max(3 intervals, 30 s); a leader that exits frees the lease at once.
    leadership = services.database.leadership("influx-poller",
                                              lost_after=max(3 * settings.poll_interval, 30.0))
    task = asyncio.create_task(monitor.run(leadership), name="monitor")
    yield
    await stop_task(task)
    await leadership.release()


async def rules_reload_ctx(app: web.Application) -> AsyncIterator[None]:
    """Reload the rules on SIGHUP and when the file changes (see heatwatch/reload.py)."""
    reloader = app[SERVICES].reloader
    if reloader is None:
        yield
        return
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
    response = await request.app[SERVICES].bot.endpoint.handle(request)
    request.app[METRICS].activity(observed_type(request), response.status)
    return response


async def alerts(request: web.Request) -> web.Response:
    receiver = request.app[SERVICES].receivers.get(request.match_info["receiver"])
    if receiver is None:
        return error(404, "not_found", f"No such receiver: use {receiver_paths()}.")
    return await receiver.handle(request)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    ready = True
    try:
        await request.app[SERVICES].database.fetch_one("SELECT 1 AS ok")
        checks["storage"] = "ok"
    except Exception as error:
        checks["storage"] = f"unavailable ({error.__class__.__name__})"
        ready = False
    monitor = request.app[SERVICES].monitor
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


def create_app(settings: Settings, *, sink: AlertSink | None = None) -> web.Application:
    """Build the application. No I/O happens until it starts. `sink` replaces the outbox as
    where alert events go (tests that record them)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES + 1)
    logging.getLogger("aiohttp.server").addFilter(QUIET_CLIENT_ERRORS)
    app[SETTINGS] = settings
    app[METRICS] = Metrics(settings.package.version, RECEIVERS)
    app.cleanup_ctx.extend([
        services_ctx(sink), signing_keys_ctx, graph_ctx, replicas_ctx, delivery_ctx,
        escalation_ctx, oncall_ctx, shifts_ctx, handoff_ctx, audit_retention_ctx,
        retention_ctx, monitor_ctx, rules_reload_ctx, metrics_port_ctx])
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
