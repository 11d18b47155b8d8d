"""Pieces both the server and the command-line tools build from settings: one builder per
component, so its options are derived from settings in one place."""

from __future__ import annotations

import asyncio
from functools import partial

from bots.references import personal_chat_reference
from common.metrics import Metrics
from common.settings import Settings
from common.tokens import TokenSource
from notifier.delivery.charts import ChartMaker
from notifier.delivery.feed import FeedNotice, chat_link
from notifier.delivery.paging import PagingReader
from notifier.delivery.ratelimit import DeliveryLimiter
from notifier.delivery.sending import DeliveryError, FailureKind, MessageSender
from notifier.delivery.workers import DeliveryWorker, UninstalledHook
from notifier.install.activity import ActivityFeed
from notifier.install.graph import GraphError, GraphInstaller, graph_client
from storage.backend import SqlBackend
from storage.registry import ConversationRegistry


def graph_installer(settings: Settings, tokens: TokenSource,
                    registry: ConversationRegistry,
                    metrics: Metrics | None = None) -> GraphInstaller:
    """Graph self-installation with the bot's identity; references come from `bots/`."""
    return GraphInstaller(
        graph_client(tokens, settings.cloud.graph_base_url,
                     metrics.graph_request if metrics is not None else None), registry,
        partial(personal_chat_reference, settings.app_id),
        tenant_id=settings.tenant_id, manifest_id=settings.teams_app_id,
        catalog_app_id=settings.teams_catalog_app_id,
        default_service_url=settings.cloud.teams_service_url,
        graph_base_url=settings.cloud.graph_base_url)


class GraphFeedSender:
    """Delivery's `FeedSender` over Graph's activity feed: Graph's answers sorted into the
    failure kinds delivery acts on."""

    def __init__(self, feed: ActivityFeed) -> None:
        self._feed = feed

    async def notify(self, tenant_id: str, notice: FeedNotice) -> None:
        try:
            await self._feed.send(notice.user_id, notice.graph_body())
        except GraphError as error:
            if error.status == 429:
                raise DeliveryError(FailureKind.THROTTLED, str(error),
                                    error.retry_after) from None
            if error.status >= 500 or error.status in (0, 408):
                raise DeliveryError(FailureKind.RETRY, str(error), error.retry_after) from None
            raise DeliveryError(FailureKind.REFUSED, str(error)) from None


def feed_sender(settings: Settings, tokens: TokenSource,
                metrics: Metrics | None = None) -> GraphFeedSender | None:
    """Activity-feed paging, when the bot has an identity, the manifest id is known (the
    feed needs the app installed) and ACTIVITY_FEED is on; else None."""
    if not (settings.activity_feed and settings.app_id and settings.teams_app_id):
        return None
    return GraphFeedSender(ActivityFeed(graph_client(
        tokens, settings.cloud.graph_base_url,
        metrics.graph_request if metrics is not None else None)))


def feed_link(settings: Settings) -> str | None:
    """Where a tap on a page leads (the chat with the bot), or None without paging."""
    if not (settings.activity_feed and settings.app_id and settings.teams_app_id):
        return None
    return chat_link(settings.app_id)


# One delivery-worker send may take this long; the lease is renewed while it runs (a third of
# DELIVERY_LEASE_SECONDS), so the send timeout need not fit in the lease.
SEND_TIMEOUT_SECONDS = 30.0


def delivery_worker(settings: Settings, database: SqlBackend, sender: MessageSender,
                    limiter: DeliveryLimiter, wake: asyncio.Event, *,
                    metrics: Metrics | None = None, charts: ChartMaker | None = None,
                    on_uninstalled: UninstalledHook | None = None,
                    feed: GraphFeedSender | None = None,
                    paging: PagingReader | None = None) -> DeliveryWorker:
    """The delivery workers as DELIVERY_* settings make them: the server's and the
    `test-alert` command's alike."""
    return DeliveryWorker(
        database, sender, limiter, wake=wake,
        concurrency=settings.delivery_concurrency,
        max_attempts=settings.delivery_max_attempts,
        give_up_after=settings.delivery_give_up_after, backoff_base=settings.delivery_backoff,
        lease_seconds=settings.delivery_lease, send_timeout=SEND_TIMEOUT_SECONDS,
        on_uninstalled=on_uninstalled, metrics=metrics, charts=charts, feed=feed, paging=paging)
