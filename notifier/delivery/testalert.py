"""Test cards through the real pipeline: a `test` event published to an outbox sink (written
durably, then sent by the delivery workers like any alert), to the default audience or to the
targets given. Who gets it is decided by the planner's own audience logic (`OutboxSink`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from common.clock import utcnow
from notifier.alerts.events import AlertEvent, EventKind
from notifier.alerts.routing import Key
from notifier.delivery.planner import OutboxSink
from storage.backend import SqlBackend

TEST_SOURCE = "heatwatch-test"
TEST_RULE = "heatwatch-test"


class FixedTargets:
    """Routing that names the same targets for every event (None: the default audience)."""

    def __init__(self, targets: Sequence[str]) -> None:
        self._targets = tuple(targets)

    def targets_for(self, event: AlertEvent) -> tuple[str, ...] | None:
        return self._targets or None


def test_event(sent_by: str) -> AlertEvent:
    now = utcnow()
    return AlertEvent(
        kind=EventKind.TEST, rule=TEST_RULE, alert_id="test-" + uuid.uuid4().hex[:11], at=now,
        source=TEST_SOURCE, since=now,
        detail=f"This is a test card sent by {sent_by} to check that HeatWatch alerts reach "
               "this conversation. Nothing is wrong; no action is needed.")


async def send_test_card(db: SqlBackend, sent_by: str, targets: Sequence[str] = (),
                         wake: asyncio.Event | None = None) -> tuple[AlertEvent, set[Key]]:
    """Queue a test card; returns the event and the conversations it was queued for."""
    sink = OutboxSink(db, FixedTargets(targets), wake)
    event = test_event(sent_by)
    now = utcnow()
    audience = await sink.audience(event, now, await sink.recipients(now))
    if audience:
        await sink.publish([event])
    return event, audience
