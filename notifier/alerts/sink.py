"""Where alert events go, from any source."""

from __future__ import annotations

from typing import Protocol

from notifier.alerts.events import AlertEvent


class AlertSink(Protocol):
    """Must be durable when `publish` returns (the delivery outbox)."""

    async def publish(self, events: list[AlertEvent]) -> None: ...
