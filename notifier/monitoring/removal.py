"""What happens to the series of a rule that left the rules file (a reload, or a restart with a
changed file): their open alerts are resolved with a note, never left firing."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from notifier.alerts.events import AlertEvent, EventKind
from notifier.monitoring.engine import Phase, SeriesState

RULE_REMOVED = "rule removed"


def removed_rule_events(states: Iterable[SeriesState], now: datetime) -> list[AlertEvent]:
    """A `resolved` event (detail "rule removed") for every firing or no-data alert of these
    series."""
    events = []
    for state in states:
        if state.phase is Phase.FIRING and state.alert_id is not None:
            events.append(AlertEvent(
                kind=EventKind.RESOLVED, rule=state.rule, alert_id=state.alert_id, at=now,
                series=dict(state.tags), previous_severity=state.severity,
                value=state.last_value, since=state.since, detail=RULE_REMOVED))
        if state.no_data_alert_id is not None:  # ends the silence, as new data would
            events.append(AlertEvent(
                kind=EventKind.DATA_BACK, rule=state.rule, alert_id=state.no_data_alert_id,
                at=now, series=dict(state.tags), value=state.last_value,
                since=state.last_seen, detail=RULE_REMOVED))
    return events
