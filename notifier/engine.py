"""The per-series alert state machine: ok -> pending -> firing(warn|crit) -> resolved, plus no-data.

Pure: `step()` takes a rule, the stored state, this poll's reading (or None) and the poll time,
and returns the new state and the events to publish. Decisions:

- Thresholds are inclusive (`value >= crit_above` is critical). Hysteresis: a level that is
  active (pending or firing) only clears once the value is back past threshold - hysteresis
  (threshold + hysteresis for the `below` thresholds).
- `for` (pending) counts poll time from the first hot reading; a reading that is no longer hot
  cancels it silently. A hotter level during pending joins the same pending period.
- Escalation warn -> crit and de-escalation crit -> warn are immediate while firing (the alert
  already passed its `for`), and reset the reminder timer.
- No data: when the newest point of a known series is `no_data` old, one `no-data` event; when a
  newer point arrives, `data-back`, then normal evaluation of that point.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from notifier.events import AlertEvent, EventKind, Severity, make_alert_id
from notifier.rules import Rule


class Phase(StrEnum):
    OK = "ok"
    PENDING = "pending"
    FIRING = "firing"


@dataclass(frozen=True)
class Reading:
    """The latest point of one series."""

    tags: dict[str, str]
    value: float
    time: datetime


@dataclass(frozen=True)
class SeriesState:
    rule: str
    key: str
    tags: dict[str, str] = field(default_factory=dict)
    phase: Phase = Phase.OK
    severity: Severity | None = None
    since: datetime | None = None
    alert_id: str | None = None
    last_value: float | None = None
    last_seen: datetime | None = None
    last_notified: datetime | None = None
    no_data_alert_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        def text(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "tags": self.tags, "phase": self.phase.value,
            "severity": self.severity.value if self.severity else None,
            "since": text(self.since), "alert_id": self.alert_id,
            "last_value": self.last_value, "last_seen": text(self.last_seen),
            "last_notified": text(self.last_notified),
            "no_data_alert_id": self.no_data_alert_id,
        }

    @classmethod
    def from_json(cls, rule: str, key: str, data: dict[str, Any]) -> SeriesState:
        def when(name: str) -> datetime | None:
            return datetime.fromisoformat(data[name]) if data.get(name) else None

        return cls(
            rule=rule, key=key, tags=dict(data.get("tags") or {}),
            phase=Phase(data.get("phase", "ok")),
            severity=Severity(data["severity"]) if data.get("severity") else None,
            since=when("since"), alert_id=data.get("alert_id"),
            last_value=data.get("last_value"), last_seen=when("last_seen"),
            last_notified=when("last_notified"), no_data_alert_id=data.get("no_data_alert_id"),
        )


def classify(rule: Rule, value: float, current: Severity | None) -> tuple[Severity | None,
                                                                          float | None]:
    """The level `value` is at, given the level already active (for hysteresis)."""
    h = rule.hysteresis

    def hot(threshold: float | None, active: bool) -> bool:
        return threshold is not None and (value > threshold - h if active else value >= threshold)

    def cold(threshold: float | None, active: bool) -> bool:
        return threshold is not None and (value < threshold + h if active else value <= threshold)

    crit_active = current is Severity.CRIT
    if hot(rule.crit_above, crit_active):
        return Severity.CRIT, rule.crit_above
    if cold(rule.crit_below, crit_active):
        return Severity.CRIT, rule.crit_below
    warn_active = current is not None
    if hot(rule.warn_above, warn_active):
        return Severity.WARN, rule.warn_above
    if cold(rule.warn_below, warn_active):
        return Severity.WARN, rule.warn_below
    return None, None


def step(
    rule: Rule, state: SeriesState, reading: Reading | None, now: datetime
) -> tuple[SeriesState, list[AlertEvent]]:
    events: list[AlertEvent] = []

    def event(kind: EventKind, st: SeriesState, alert_id: str, **extra: Any) -> None:
        events.append(AlertEvent(kind=kind, rule=rule.name, alert_id=alert_id, at=now,
                                 series=dict(st.tags), unit=rule.unit, **extra))

    fresh = reading is not None and (state.last_seen is None or reading.time > state.last_seen)
    if reading is not None:
        state = replace(state, tags=dict(reading.tags), last_value=reading.value,
                        last_seen=max(reading.time, state.last_seen or reading.time))
    stale = state.last_seen is not None and (now - state.last_seen).total_seconds() >= rule.no_data
    if reading is None or stale:
        if stale and state.no_data_alert_id is None:
            alert_id = make_alert_id(rule.name, state.key, now)
            state = replace(state, no_data_alert_id=alert_id)
            event(EventKind.NO_DATA, state, alert_id, since=state.last_seen,
                  value=state.last_value,
                  detail=f"no data for {rule.no_data:g}s")
        return state, events

    if fresh and state.no_data_alert_id is not None:
        event(EventKind.DATA_BACK, state, state.no_data_alert_id, value=reading.value)
        state = replace(state, no_data_alert_id=None)

    active = state.severity if state.phase is not Phase.OK else None
    severity, threshold = classify(rule, reading.value, active)
    value = reading.value

    if state.phase is Phase.FIRING:
        assert state.alert_id is not None
        if severity is None:
            event(EventKind.RESOLVED, state, state.alert_id, value=value,
                  previous_severity=state.severity, since=state.since)
            return replace(state, phase=Phase.OK, severity=None, since=None, alert_id=None,
                           last_notified=None), events
        if severity is not state.severity:
            kind = EventKind.ESCALATED if severity is Severity.CRIT else EventKind.DEESCALATED
            event(kind, state, state.alert_id, severity=severity,
                  previous_severity=state.severity, value=value, threshold=threshold,
                  since=state.since)
            return replace(state, severity=severity, last_notified=now), events
        due = state.last_notified is None or (
            (now - state.last_notified).total_seconds() >= rule.repeat)
        if rule.repeat > 0 and due:
            event(EventKind.REMINDER, state, state.alert_id, severity=severity, value=value,
                  threshold=threshold, since=state.since)
            return replace(state, last_notified=now), events
        return state, events

    if severity is None:
        return replace(state, phase=Phase.OK, severity=None, since=None), events

    since = state.since if state.phase is Phase.PENDING and state.since else now
    if (now - since).total_seconds() >= rule.pending:
        alert_id = make_alert_id(rule.name, state.key, since)
        state = replace(state, phase=Phase.FIRING, severity=severity, since=since,
                        alert_id=alert_id, last_notified=now)
        event(EventKind.FIRED, state, alert_id, severity=severity, value=value,
              threshold=threshold, since=since)
        return state, events
    return replace(state, phase=Phase.PENDING, severity=severity, since=since), events
