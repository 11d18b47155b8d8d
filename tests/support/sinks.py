"""An alert sink that keeps what it is given: the monitoring tests read the events a poll
published, without delivery."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.errors import StorageError
from notifier.alerts.events import AlertEvent, EventKind, Severity


@dataclass
class RecordingSink:
    events: list[AlertEvent] = field(default_factory=list)
    failures: int = 0  # the next publishes that fail as delivery's database would

    async def publish(self, events: list[AlertEvent]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise StorageError("the database is not answering")
        self.events.extend(events)

    def kinds(self) -> list[tuple[EventKind, Severity | None]]:
        return [(e.kind, e.severity) for e in self.events]
