"""Paging through the Teams activity feed: besides the card in the chat, a person who is paged
gets an activity-feed notification (Microsoft Graph `sendActivityNotification`), which Teams
pushes to their phone. Pages are a critical incident's first card in a personal chat and every
escalation step that reaches one; when the incident ends, the same `chainId` tells them so,
replacing the page in their feed.

They go through the outbox like every other send (durable, retried by `FailureKind`), kept to
Graph's limit for this API: Microsoft documents 5 requests per second per app per tenant for
activity feed notifications ("Throttling limits", Teams service limits in Microsoft Graph).

Graph: POST /users/{id}/teamwork/sendActivityNotification, application permission
`TeamsActivity.Send` with admin consent; the activity type is declared in the manifest's
`activities.activityTypes` (`heatwatch/package.py`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Protocol

from common.wire import ActivityNotificationJson
from notifier.alerts.events import Severity
from notifier.alerts.record import IncidentSnapshot
from notifier.delivery.cards import amount, where
from notifier.delivery.ratelimit import SlidingWindows
from storage.models import Conversation, Scope
from storage.outbox import NewDelivery, Operation

ACTIVITY_TYPE = "heatAlert"  # declared in manifest activities.activityTypes
TEMPLATE = "{alert}"  # the manifest's templateText: the alert line is the whole reason
FEED_WINDOWS = ((5, 1.0),)  # per app per tenant
PREVIEW_LIMIT = 150  # Teams shows the first 150 characters of previewText


@dataclass(frozen=True)
class FeedNotice:
    """One activity-feed notification for one person."""

    user_id: str  # AAD object id
    chain_id: int
    alert: str  # the line in the feed ("server-room-temperature critical: room r1, 33 °C")
    preview: str
    web_url: str  # where a tap leads: the chat with HeatWatch

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text: str) -> FeedNotice:
        data = json.loads(text)
        return FeedNotice(str(data["user_id"]), int(data["chain_id"]), str(data["alert"]),
                          str(data["preview"]), str(data["web_url"]))

    def graph_body(self) -> ActivityNotificationJson:
        """The request body Graph documents for sendActivityNotification."""
        return {
            "topic": {"source": "text", "value": "HeatWatch", "webUrl": self.web_url},
            "activityType": ACTIVITY_TYPE,
            "chainId": self.chain_id,
            "previewText": {"content": self.preview[:PREVIEW_LIMIT]},
            "templateParameters": [{"name": "alert", "value": self.alert}],
        }


def chain_id(alert_id: str) -> int:
    """The same positive Int64 for every notification about one incident."""
    return int(hashlib.sha256(alert_id.encode()).hexdigest()[:15], 16)


def chat_link(bot_app_id: str) -> str:
    """Teams' deep link to the person's chat with the bot."""
    return f"https://teams.microsoft.com/l/chat/0/0?users=28:{bot_app_id}"


class FeedSender(Protocol):
    async def notify(self, tenant_id: str, notice: FeedNotice) -> None:
        """Send the notification; `DeliveryError` with its `FailureKind` when it fails."""
        ...


class FeedLimiter:
    """Graph's activity-feed limit, per tenant, kept before each request."""

    def __init__(self) -> None:
        self._windows = SlidingWindows(FEED_WINDOWS, margin=0.05)

    @asynccontextmanager
    async def slot(self, tenant_id: str) -> AsyncIterator[None]:
        now = time.monotonic()
        at = self._windows.earliest(tenant_id, now)
        self._windows.record(tenant_id, at)
        if at > now:
            await asyncio.sleep(at - now)
        try:
            yield
        finally:
            self._windows.settle(tenant_id, at, time.monotonic())
            self._windows.forget_idle(time.monotonic())


def people_of(conversations: Iterable[Conversation]) -> dict[tuple[str, str], str]:
    """Personal chats (active or not) with their person's AAD object id."""
    return {(c.tenant_id, c.conversation_id): c.user_aad_object_id for c in conversations
            if c.scope is Scope.PERSONAL and c.user_aad_object_id}


def notice_line(event: IncidentSnapshot) -> str:
    """The feed's line for an incident: "server-room-temperature critical: room r1, 33.0 °C"."""
    state = {Severity.CRIT: "critical", Severity.WARN: "warning"}.get(
        event.severity, "resolved") if event.severity else "resolved"
    detail = ", ".join(part for part in (where(event), amount(event.value, event.unit))
                       if part and part != "-")
    return f"{event.rule or 'HeatWatch'} {state}" + (f": {detail}" if detail else "")


def page_rows(event_id: str, alert_id: str, keys: Iterable[tuple[str, str]],
              people: dict[tuple[str, str], str], line: str, preview: str,
              link: str) -> list[NewDelivery]:
    """FEED deliveries for the personal chats among `keys`."""
    return [NewDelivery(event_id, alert_id, tenant, conversation, Operation.FEED,
                        FeedNotice(people[(tenant, conversation)], chain_id(alert_id), line,
                                   preview, link).to_json())
            for tenant, conversation in sorted(keys) if (tenant, conversation) in people]
