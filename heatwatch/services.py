"""The services of one HeatWatch process, composed once: `build_services` makes every piece
with what it needs handed to its constructor, in one place and in dependency order. The aiohttp
app holds the result (`heatwatch.server.SERVICES`); the background jobs (`cleanup_ctx`
generators in heatwatch/server.py) only start and stop tasks over it.

Nothing here does I/O: the database is opened and the rules file read before (`open_services`),
so a bad rules file stops the start before anything runs.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bots.runtime import BotRuntime
from common.metrics import Metrics
from common.settings import Settings
from common.tokens import TokenSource, token_source_for
from heatwatch.components import delivery_worker, feed_link, feed_sender, graph_installer
from heatwatch.observability import CountingSink, watch_state
from heatwatch.reload import Rules, RulesFile, RulesReloader, read_rules_file
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
from notifier.inbound.receiver import Receiver
from notifier.inbound.silences import Silences
from notifier.inbound.sources import PUSH_SOURCES
from notifier.install.graph import graph_client
from notifier.install.reconcile import Reconciler
from notifier.install.shifts import ShiftsReader
from notifier.monitoring.exposure import exposure_reader
from notifier.monitoring.monitor import Monitor
from notifier.monitoring.rules import Rule
from notifier.monitoring.sources import TemperatureSource, build_source, history_reader
from storage.alert_state import AlertStateStore
from storage.backend import SqlBackend
from storage.database import open_database
from storage.inbound import InboundStore
from storage.registry import ConversationRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """Everything the routes and the background jobs of one process use. Optional pieces are
    None when their settings leave them off (no bot identity: no tokens, Graph or Shifts;
    MONITORING_ENABLED=false: no poller; no rules file: no reload)."""

    settings: Settings
    metrics: Metrics
    database: SqlBackend
    registry: ConversationRegistry
    rules: Rules
    wake: asyncio.Event  # set when the outbox has something to send
    tokens: TokenSource | None
    charts: ChartMaker
    exposure: ExposureReader | None
    actions: AlertActions
    oncall: OnCallDesk
    commands: Commands
    limiter: DeliveryLimiter  # alerts and replies: both count against Teams' limits
    bot: BotRuntime
    sink: AlertSink
    worker: DeliveryWorker
    receivers: dict[str, Receiver]  # POST /api/alerts/<name>
    escalator: Escalator
    handoffs: Handoffs
    reconciler: Reconciler | None
    shifts: ShiftsReader | None
    monitor: Monitor | None
    reloader: RulesReloader | None
    sources: tuple[TemperatureSource, ...]  # InfluxDB clients to close

    async def close(self) -> None:
        """After every background job stopped: clients, then storage."""
        await self.charts.close()
        for source in self.sources:
            await source.close()
        await self.bot.close()
        if self.tokens is not None:
            await self.tokens.close()
        await self.database.close()


def build_services(settings: Settings, metrics: Metrics, database: SqlBackend,
                   loaded: RulesFile, sink: AlertSink | None = None) -> Services:
    """Every piece, once, each given what it uses. `sink` replaces the outbox sink (tests)."""
    rules = Rules.of(loaded)
    routing = rules.sources()
    wake = asyncio.Event()
    registry = ConversationRegistry(database)
    operators = Operators.of(settings.operators)
    tokens = token_source_for(settings)
    link = feed_link(settings) if tokens is not None else None

    def recipients() -> tuple[str, ...]:
        """Everyone who must be reachable: ALERT_RECIPIENTS and the schedules' people."""
        return tuple(dict.fromkeys(settings.alert_recipients + rules.schedules.people()))

    # Schedules' people may come later (Teams Shifts, a rules reload): with the bot's identity
    # and the manifest id, the reconciler runs and installs them within seconds; a page to
    # someone without a chat installs them first (`reach`).
    reconciler = Reconciler(graph_installer(settings, tokens, registry, metrics), registry,
                            recipients, settings.reconcile_interval) \
        if tokens is not None and (settings.teams_app_id or settings.alert_recipients) else None
    reach = reconciler.reach if reconciler is not None else None
    sink = sink or CountingSink(OutboxSink(database, routing, wake,
                                           update_window=settings.incident_update_window,
                                           feed_link=link, reach=reach), metrics)
    # Who is on call for an incident and who was paged, on its cards (delivery/paging.py).
    paging = PagingReader(database, rules.sources(resolve=False), rules.schedules)

    # Trend charts and the exposure report read InfluxDB on every replica (a replica that does
    # not poll still renders cards); the poller has its own client.
    sources: list[TemperatureSource] = []
    exposure: ExposureReader | None = None
    charts = ChartMaker(None)
    monitor: Monitor | None = None
    if settings.monitoring:
        history = build_source(settings.influx)
        charts = ChartMaker(history_reader(history, rules.rules))
        exposure = exposure_reader(history, rules.rules, AlertStore(database))
        polled = build_source(settings.influx)
        sources += [history, polled]
        monitor = Monitor(list(rules.rules), polled, AlertStateStore(database), sink,
                          interval=settings.poll_interval, down_after=settings.source_down_after,
                          metrics=metrics)

    actions = AlertActions(database, wake, operators,
                           silences=Silences(database, settings.inbound, wake), charts=charts,
                           paging=paging)
    oncall = OnCallDesk(database, rules.schedules, operators.people)
    commands = Commands(actions, AlertStateStore(database), rules.rules,
                        OperatingCommands(database, routing, wake), exposure, oncall=oncall)
    limiter = DeliveryLimiter(settings.tenant_send_limit)
    bot = BotRuntime(settings, tokens, database, actions, commands, limiter, wake)

    worker = delivery_worker(
        settings, database, bot.sender, limiter, wake, metrics=metrics, charts=charts,
        on_uninstalled=reconciler.reinstall if reconciler is not None else None,
        feed=feed_sender(settings, tokens, metrics) if tokens is not None else None,
        paging=paging)

    inbound = settings.inbound
    store, lock = InboundStore(database), asyncio.Lock()
    receivers = {
        source.receiver: Receiver(source.receiver, inbound.receiver(source.receiver), source.read,
                                  sink, store, lock, inbound.max_bytes, metrics,
                                  inbound.read_timeout)
        for source in PUSH_SOURCES}

    reloader: RulesReloader | None = None
    if settings.rules_file.is_file():
        def apply(new: list[Rule]) -> None:
            rules.rules[:] = new
            rules.routing.update(new)
            commands.set_rules(new)
            if monitor is not None:
                monitor.set_rules(new)

        def reroute(again: RulesFile) -> None:
            rules.labels.update(again.routes)
            rules.schedules.update(again.schedules)

        reloader = RulesReloader(settings.rules_file, rules.rules, apply, reroute)

    return Services(
        settings=settings, metrics=metrics, database=database, registry=registry, rules=rules,
        wake=wake, tokens=tokens, charts=charts, exposure=exposure, actions=actions,
        oncall=oncall, commands=commands, limiter=limiter, bot=bot, sink=sink, worker=worker,
        receivers=receivers,
        escalator=Escalator(database, routing, wake, feed_link=link, reach=reach),
        handoffs=Handoffs(database, rules.schedules, wake),
        reconciler=reconciler,
        shifts=ShiftsReader(graph_client(tokens, settings.cloud.graph_base_url,
                                         metrics.graph_request), rules.schedules)
        if tokens is not None else None,
        monitor=monitor, reloader=reloader, sources=tuple(sources))


async def open_services(settings: Settings, metrics: Metrics,
                        sink: AlertSink | None = None) -> Services:
    """Open the database, read the rules file (a bad one stops the start, with the database
    closed again) and build the services."""
    database = await open_database(settings.database_url, settings.database_pool_size)
    database.on_error = metrics.database_error
    watch_state(metrics, database)
    try:
        loaded = read_rules_file(settings.rules_file, required=settings.monitoring)
        return build_services(settings, metrics, database, loaded, sink)
    except BaseException:
        await database.close()
        raise
