"""An alert sink that keeps what it is given: the monitoring tests read the events a poll
published, without delivery."""

from __future__ import annotations

from dataclasses import dataclass, field

from notifier.alerts.events import AlertEvent, EventKind, Severity


@dataclass
class RecordingSink:
    events: list[AlertEvent] = field(default_factory=list)

    async def publish(self, events: list[AlertEvent]) -> None:
        self.events.extend(events)

    def kinds(self) -> list[tuple[EventKind, Severity | None]]:
        return [(e.kind, e.severity) for e in self.events]
