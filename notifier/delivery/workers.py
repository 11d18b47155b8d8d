"""Delivery workers: claim due outbox rows and send them, concurrently across conversations and
in order within one, inside Teams' limits.

Failures, by kind (the platform adapter sorts its answers into `FailureKind`s):
  THROTTLED         wait at least Retry-After, retry (up to `max_throttled_attempts`)
  RETRY             exponential backoff with jitter (up to 5 min apart), then dead after
                    `max_attempts` once it also waited `give_up_after` (24 h) since it was
                    queued, so an outage of the connector loses nothing (the reason is
                    kept; `python -m heatwatch deliveries` lists them). A welcome given up
                    is queued again with the conversation's next activity.
  NOT_INSTALLED     conversation uninstalled (or re-installed by the hook, then retried);
                    its pending rows parked
  BLOCKED           conversation blocked; its pending rows parked
  TENANT_DISABLED   no more sends to that tenant in this process, logged once
  GONE              conversation removed; its pending rows parked
  MESSAGE_GONE      (updating a card) the card was deleted: post a new one
  REFUSED           dead with the reason
One failure never stops another conversation's deliveries.

Claims and leases (issue #24): a worker holds at most `CLAIM_AHEAD_SECONDS` of its share of the
per-tenant cap (besides `concurrency`), so deliveries it cannot send soon stay claimable by the
other replicas; routine deliveries (updates, notes) only `ROUTINE_AHEAD_SECONDS` ahead of the
limiter, so an urgent one (a first post, an escalation) is not queued behind many of them. It
renews its leases every third of `lease_seconds` while it runs and gives back what it has not
sent when it stops. A replica that dies leaves at most that much, for at most one lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from common.clock import utcnow
from common.metrics import UNCOUNTED, Metrics
from common.retry import Backoff, run_forever
from common.wire import ActivityJson, ConversationAccountJson, ConversationReferenceJson
from notifier.alerts.store import AlertStore
from notifier.delivery.cards import note_activity
from notifier.delivery.charts import ChartMaker
from notifier.delivery.feed import FeedLimiter, FeedNotice, FeedSender
from notifier.delivery.paging import PagingReader
from notifier.delivery.ratelimit import DeliveryLimiter
from notifier.delivery.sending import DeliveryError, FailureKind, MessageSender, retry_delay
from notifier.delivery.sitecard import SITE_NOTE
from notifier.delivery.siteplan import folded_here, noted
from notifier.delivery.view import IncidentView
from storage.backend import SqlBackend
from storage.models import Conversation, Scope, Status
from storage.outbox import Delivery, Operation, Outbox
from storage.registry import WELCOME_EVENT_PREFIX, ConversationRegistry
from storage.sites import SiteStore

log = logging.getLogger(__name__)
T = TypeVar("T")

TENANT_DISABLED_REASON = "the app is disabled for this tenant"

# Called when a conversation turns out uninstalled; True: installed again, retry the send.
UninstalledHook = Callable[[str, str], Awaitable[bool]]
# Deliveries a worker holds at most: this many seconds of its per-tenant send share (what it
# could send soon; the rest waits in the outbox for whichever replica is free).
CLAIM_AHEAD_SECONDS = 1.0
# Sends are reserved in the limiter in claim order, so an urgent delivery claimed later waits
# behind what is reserved already. Other deliveries are claimed this many seconds of the share
# at a time, and only while the limiter has less than that reserved ahead; urgent ones always.
ROUTINE_AHEAD_SECONDS = 0.25


def in_thread(reference: ConversationReferenceJson, thread: str) -> ConversationReferenceJson:
    """The reference aimed at another conversation id: a channel thread's (`;messageid=`)."""
    conversation: ConversationAccountJson = {**reference.get("conversation", {}), "id": thread}
    return {**reference, "conversation": conversation}


def reply_of(reference: ConversationReferenceJson,
             payload: str) -> tuple[ConversationReferenceJson, ActivityJson]:
    """A queued reply: the message, and the conversation's reference aimed at the thread the
    person wrote in (a channel thread's id carries `;messageid=`)."""
    data = json.loads(payload)
    thread = data.get("thread")
    activity: ActivityJson = data["activity"]
    return in_thread(reference, thread) if thread else reference, activity


class DeliveryWorker:
    def __init__(
        self,
        db: SqlBackend,
        sender: MessageSender,
        limiter: DeliveryLimiter,
        *,
        wake: asyncio.Event | None = None,
        concurrency: int = 64,
        max_attempts: int = 8,
        give_up_after: float = 86400.0,
        max_throttled_attempts: int = 30,
        lease_seconds: float = 10.0,
        send_timeout: float = 30.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        on_uninstalled: UninstalledHook | None = None,
        clock: Callable[[], datetime] = utcnow,
        metrics: Metrics | None = None,
        charts: ChartMaker | None = None,
        feed: FeedSender | None = None,
        paging: PagingReader | None = None,
    ) -> None:
        self._paging = paging
        self._feed = feed
        self._feed_limiter = FeedLimiter()
        self._metrics = metrics or UNCOUNTED
        self._charts = charts
        self._outbox = Outbox(db)
        self._alerts = AlertStore(db)
        self._registry = ConversationRegistry(db)
        self._sender = sender
        self._limiter = limiter
        self.wake = wake or asyncio.Event()
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._give_up_after = timedelta(seconds=give_up_after)
        self._max_throttled = max_throttled_attempts
        self._lease = lease_seconds
        self._send_timeout = send_timeout
        self._backoff = Backoff(backoff_base, backoff_cap)
        self._on_uninstalled = on_uninstalled
        self._clock = clock
        self.owner = uuid.uuid4().hex[:12]
        self._in_flight: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._disabled_tenants: set[str] = set()
        self._accepting = True

    # the loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        renewing = asyncio.create_task(
            run_forever(self._renew, what="Renewing the delivery leases", log=log,
                        backoff=Backoff(self._lease / 6, self._lease / 3)),
            name="delivery-leases")
        try:
            await run_forever(self._step, what="Reading the delivery outbox", log=log,
                              backoff=Backoff(1.0, 30.0))
        finally:
            renewing.cancel()

    async def _renew(self) -> float:
        """Keep the leases of what is in flight here (alive: renewed every third of a lease)."""
        if self._in_flight:
            await self._outbox.renew(self.owner, self._clock(), self._lease)
        return self._lease / 3

    def holding_limit(self) -> int:
        """How many deliveries this worker may hold at once: `concurrency`, and no more than
        it can send in `CLAIM_AHEAD_SECONDS` at its current share of the tenant cap."""
        share = self._limiter.tenant_share
        if share <= 0:
            return self._concurrency
        return max(1, min(self._concurrency, math.ceil(share * CLAIM_AHEAD_SECONDS)))

    async def _step(self) -> float:
        self.wake.clear()  # before claiming, so a wake-up during the claim is not lost
        if not await self._claim():
            await self._idle()
        return 0.0

    async def _claim(self) -> int:
        free = self.holding_limit() - len(self._in_flight)
        if free <= 0 or not self._accepting:
            return 0
        share = self._limiter.tenant_share
        urgent_only = share > 0 and self._limiter.ahead() >= ROUTINE_AHEAD_SECONDS
        if share > 0 and not urgent_only:
            free = min(free, max(1, math.ceil(share * ROUTINE_AHEAD_SECONDS)))
        now = self._clock()
        deliveries = await self._outbox.claim(self.owner, now, free, self._lease,
                                              exclude=set(self._in_flight),
                                              urgent_only=urgent_only)
        for delivery in deliveries:
            key = (delivery.tenant_id, delivery.conversation_id)
            task = asyncio.create_task(self._guarded(delivery), name=f"deliver-{delivery.id}")
            self._in_flight[key] = task
            task.add_done_callback(functools.partial(self._finished, key))
        return len(deliveries)

    def _finished(self, key: tuple[str, str], _task: object = None) -> None:
        self._in_flight.pop(key, None)
        self.wake.set()

    async def _idle(self) -> None:
        """Sleep until woken (new rows, a finished send) or the next retry falls due. While
        sends are in flight, their completion is the wake-up."""
        timeout = 1.0
        if not self._in_flight:
            due = await self._outbox.next_due()
            if due is not None:
                timeout = min(1.0, (due - self._clock()).total_seconds())
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
        # that races with the event being set, and the worker would never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(timeout, 0.01)):
                await self.wake.wait()

    async def drain(self, timeout: float) -> None:
        """Shutdown: claim nothing more, let in-flight sends finish within `timeout`, then
        stop the rest and give their leases back, so another replica (or the next start)
        takes them at once."""
        self._accepting = False
        tasks = list(self._in_flight.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        with contextlib.suppress(Exception):
            released = await self._outbox.release(self.owner)
            if released:
                log.info("Gave back %d unsent delivery(ies) for another replica", released)

    # one delivery ------------------------------------------------------------------------

    async def _guarded(self, delivery: Delivery) -> None:
        try:
            await self.deliver(delivery)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a bug must not lose the row: retry it later
            log.exception("Delivery %s failed unexpectedly", delivery.id)
            await self._retry(delivery, f"unexpected {error.__class__.__name__}", None)

    async def deliver(self, delivery: Delivery) -> None:
        now = self._clock()
        conversation = await self._registry.get_conversation(delivery.tenant_id,
                                                             delivery.conversation_id)
        if conversation is None or conversation.status is not Status.ACTIVE:
            state = conversation.status.value if conversation else "unknown"
            await self._outbox.park(delivery.id, f"conversation is {state}", now)
            self._metrics.delivery("parked")
            return
        if delivery.tenant_id in self._disabled_tenants:
            await self._outbox.park(delivery.id, TENANT_DISABLED_REASON, now)
            self._metrics.delivery("parked")
            return
        reference = conversation.reference
        try:
            if delivery.operation is Operation.FEED:
                await self._page(delivery)
            elif delivery.operation in (Operation.TEXT, Operation.REPLY):
                if delivery.operation is Operation.REPLY:
                    reference, activity = reply_of(reference, delivery.payload)
                else:
                    reference = await self._thread_of(delivery, conversation)
                    activity = note_activity(delivery.payload)
                async with self._limiter.slot(delivery.tenant_id, delivery.conversation_id):
                    await self._timed(self._sender.post(reference, activity))
                await self._outbox.complete(delivery.id, self._clock())
                self._metrics.delivered(delivery.created_at, self._clock())
            else:
                await self._send_card(delivery, reference)
        except DeliveryError as error:
            await self._failed(delivery, error)

    async def _page(self, delivery: Delivery) -> None:
        """An activity-feed page (Microsoft Graph), kept to Graph's limit for it."""
        if self._feed is None:
            await self._outbox.park(delivery.id, "activity feed is off", self._clock())
            self._metrics.delivery("parked")
            return
        async with self._feed_limiter.slot(delivery.tenant_id):
            await self._timed(self._feed.notify(delivery.tenant_id,
                                                FeedNotice.from_json(delivery.payload)))
        await self._outbox.complete(delivery.id, self._clock())
        self._metrics.delivered(delivery.created_at, self._clock())

    async def _thread_of(self, delivery: Delivery,
                         conversation: Conversation) -> ConversationReferenceJson:
        """In a channel, a follow-up of an alert (resolved, reminder, escalation) is a reply in
        its card's thread: the conversation id `<channel id>;messageid=<card activity id>`."""
        reference = conversation.reference
        if conversation.scope is not Scope.CHANNEL or not delivery.alert_id:
            return reference
        card = await self._alerts.card(delivery.alert_id, delivery.tenant_id,
                                       delivery.conversation_id)
        if not card:
            return reference
        return in_thread(reference, f"{delivery.conversation_id};messageid={card}")

    async def _send_card(self, delivery: Delivery, reference: ConversationReferenceJson) -> None:
        view = await IncidentView.for_conversation(
            self._alerts, delivery.alert_id, (delivery.tenant_id, delivery.conversation_id),
            charts=self._charts, paging=self._paging, now=self._clock())
        if view is None:
            await self._outbox.park(delivery.id, "alert record missing", self._clock())
            self._metrics.delivery("parked")
            return
        activity = view.activity()
        existing = view.card_activity_id
        if view.site is None and await folded_here(self._alerts, delivery, existing):
            await self._outbox.complete(delivery.id, self._clock())  # on the site card
            return
        if existing and view.site is None:
            # A room card posted before its site event keeps saying so at every later update
            # (an acknowledgement from the site card, an escalation), not only at the note's.
            site = (delivery.payload.removeprefix(SITE_NOTE)
                    if delivery.payload.startswith(SITE_NOTE) else
                    await SiteStore(self._alerts.backend).site_showing(
                        delivery.alert_id, (delivery.tenant_id, delivery.conversation_id)))
            if site:
                activity = await noted(self._alerts, activity, SITE_NOTE + site)
        if existing:
            try:
                async with self._limiter.slot(delivery.tenant_id, delivery.conversation_id):
                    await self._timed(self._sender.update(reference, existing, activity))
                await self._outbox.complete(delivery.id, self._clock())
                self._metrics.delivered(delivery.created_at, self._clock())
                return
            except DeliveryError as error:
                if error.kind is not FailureKind.MESSAGE_GONE:
                    raise
                log.info("Card %s is gone from %s; posting a new one", existing,
                         delivery.conversation_id)
        async with self._limiter.slot(delivery.tenant_id, delivery.conversation_id):
            activity_id = await self._timed(self._sender.post(reference, activity))
        await self._outbox.complete(delivery.id, self._clock(), extra=[
            self._alerts.card_statement(delivery.alert_id, delivery.tenant_id,
                                        delivery.conversation_id, activity_id)])
        self._metrics.delivered(delivery.created_at, self._clock())

    async def _timed(self, call: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._send_timeout):
                return await call
        except TimeoutError:
            raise DeliveryError(FailureKind.RETRY,
                                f"no answer in {self._send_timeout:g}s") from None

    # failures ----------------------------------------------------------------------------

    async def _failed(self, delivery: Delivery, error: DeliveryError) -> None:
        now = self._clock()
        tenant, conversation = delivery.tenant_id, delivery.conversation_id
        kind = error.kind
        if kind is FailureKind.THROTTLED:
            self._metrics.connector_throttled.inc()
            await self._retry(delivery, str(error),
                              retry_delay(error, delivery.attempts, self._backoff),
                              throttled=True)
        elif kind in (FailureKind.RETRY, FailureKind.MESSAGE_GONE):
            await self._retry(delivery, str(error), None)
        elif kind is FailureKind.NOT_INSTALLED:
            await self._registry.set_conversation_status(tenant, conversation, Status.UNINSTALLED)
            if self._on_uninstalled is not None and await self._on_uninstalled(tenant,
                                                                                 conversation):
                await self._registry.set_conversation_status(tenant, conversation,
                                                             Status.ACTIVE)
                await self._retry(delivery, str(error), 0.0)
                return
            log.warning("Bot is no longer in %s (%s): marked uninstalled", conversation, error)
            await self._park_conversation(delivery, f"uninstalled ({error})", now)
        elif kind is FailureKind.BLOCKED:
            await self._registry.set_conversation_status(tenant, conversation, Status.BLOCKED)
            log.warning("User blocked the bot in %s: marked blocked", conversation)
            await self._park_conversation(delivery, "blocked by the user", now)
        elif kind is FailureKind.TENANT_DISABLED:
            if tenant not in self._disabled_tenants:
                log.error("Teams admin disabled the bot in tenant %s: no more sends there "
                          "until restart (%s)", tenant or "-", error)
            self._disabled_tenants.add(tenant)
            await self._outbox.park(delivery.id, TENANT_DISABLED_REASON, now)
            self._metrics.delivery("parked")
            await self._outbox.park_where(TENANT_DISABLED_REASON, now, tenant)
        elif kind is FailureKind.GONE:
            await self._registry.set_conversation_status(tenant, conversation, Status.REMOVED)
            log.warning("Conversation %s no longer exists: marked removed", conversation)
            await self._park_conversation(delivery, "conversation not found", now)
        else:
            log.error("Delivery %s to %s refused for good: %s", delivery.id, conversation, error)
            await self._give_up(delivery, str(error), now)

    async def _give_up(self, delivery: Delivery, reason: str, now: datetime) -> None:
        """Dead, for people to look at. A welcome given up was not a welcome: its
        conversation is greeted with its next activity instead."""
        extra = []
        if delivery.event_id.startswith(WELCOME_EVENT_PREFIX):
            extra.append(ConversationRegistry.release_welcome_statement(
                delivery.tenant_id, delivery.conversation_id))
            log.info("The welcome to %s is queued again with its next activity",
                     delivery.conversation_id)
        await self._outbox.park(delivery.id, reason, now, extra)
        self._metrics.delivery("dead")

    async def _park_conversation(self, delivery: Delivery, reason: str, now: datetime) -> None:
        await self._outbox.park(delivery.id, reason, now)
        self._metrics.delivery("parked")
        await self._outbox.park_where(reason, now, delivery.tenant_id, delivery.conversation_id)

    async def _retry(self, delivery: Delivery, reason: str, delay: float | None,
                     throttled: bool = False) -> None:
        now = self._clock()
        limit = self._max_throttled if throttled else self._max_attempts
        waited = now - delivery.created_at
        if delivery.attempts + 1 >= limit and (throttled or waited >= self._give_up_after):
            log.error("Delivery %s to %s gave up after %d attempts: %s", delivery.id,
                      delivery.conversation_id, delivery.attempts + 1, reason)
            await self._give_up(delivery, f"gave up after {delivery.attempts + 1} attempts: "
                                          f"{reason}", now)
            return
        wait = retry_delay(DeliveryError(FailureKind.RETRY, reason), delivery.attempts,
                           self._backoff) if delay is None else delay
        if delivery.attempts == 0:
            log.warning("Delivery to %s failed (%s); retrying in %.1fs",
                        delivery.conversation_id, reason, wait)
        else:
            log.debug("Delivery to %s failed again (%s); retrying in %.1fs",
                      delivery.conversation_id, reason, wait)
        await self._outbox.retry(delivery.id, now + timedelta(seconds=wait), reason, now)
        self._metrics.delivery("throttled" if throttled else "retried")
