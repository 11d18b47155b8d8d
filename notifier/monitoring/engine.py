"""The per-series alert state machine: ok -> pending -> firing(warn|crit) -> resolved, plus no-data.

`step()` takes a rule, the series' state, this poll's reading (or None) and the poll time; it
updates the state in place and returns the events to publish and whether the state changed
(10,000 series are evaluated per poll, so no copies). Decisions:

- Thresholds are inclusive (`value >= crit_above` is critical). Hysteresis: a level that is
  active (pending or firing) only clears once the value is back past threshold - hysteresis
  (threshold + hysteresis for the `below` thresholds).
- `for` (pending) counts poll time from the first hot reading; a reading that is no longer hot
  cancels it silently. A hotter level during pending joins the same pending period.
- Escalation warn -> crit and de-escalation crit -> warn are immediate while firing (the alert
  already passed its `for`), and reset the reminder timer.
- Rate of rise (`rise_warn`, `rise_crit`) and forecast (`forecast_within`) are levels too,
  judged on the series' robust trend (`trend.py`) and only when it is good (a critical rate
  also over the whole 5-minute window, not just the last 2 minutes): a level reached
  by rate alone has no threshold, and its words say what fired ("rising 1.2 °C/min, limit 5 °C
  per 15 min"). Only rising is judged (falling for a rule with only `below` thresholds): a
  room cooling back is no alarm. While active, a rate level holds down to 80 % of its limit,
  a forecast to 125 % of its horizon, and both hold while there is no trend (just after a
  step, until enough readings follow it).
- A rise the room does not share (`shared=False`: the monitor found fewer than half of the
  series of the incident group rising as fast) must go on: a rate or forecast level waits
  `RATE_HOLD` (as if `for` were at least that) and, meanwhile, the newest minute's readings
  must still rise at least half as fast as the trend. A door opened beside two probes is a
  minute's rise that stops; a local hot spot keeps rising and pages a minute later; a cooling
  failure, which most of the room shows, pages at once.
- A probe fault (`fault`: the monitor's judgement) updates the series' last reading and
  no-data, but is not classified: the series keeps its level.
- No data: when the newest point of a known series is `no_data` old, one `no-data` event; when a
  newer point arrives, `data-back`, then normal evaluation of that point. Without data for its
  rule's `forget_after`, one `forgotten` event ends its alerts and the series is `forgotten`:
  a point no newer than its last is ignored (the query may still return it), a newer one
  starts it afresh; once that point is out of every query window the monitor drops it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypedDict

from common.durations import duration_words
from common.stored import time_of, time_text
from notifier.alerts.events import AlertEvent, EventKind, Severity, make_alert_id, series_key
from notifier.alerts.record import rank
from notifier.monitoring.rules import Rule
from notifier.monitoring.trend import Trend, minutes_to, told_words

RATE_HOLD = timedelta(seconds=60)  # how long a rise the room does not share must go on
# The least change of a firing series' value that updates its card between events: a tenth of a
# unit, the resolution most room probes report at; a probe's jitter under it rewrites nothing.
SHOWN_CHANGE = 0.1


class Phase(StrEnum):
    OK = "ok"
    PENDING = "pending"
    FIRING = "firing"


@dataclass(frozen=True, slots=True)
class Reading:
    """The latest point of one series. `key` is `series_key(tags)`, computed by the source
    while it builds `tags`."""

    tags: dict[str, str]
    value: float
    time: datetime
    key: str = ""
    inputs: str = ""  # what a computed value is computed from ("24.1 °C, 65 %RH")

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", series_key(self.tags))


class SeriesStateJson(TypedDict, total=False):
    """A series' state as stored (JSON text in `alert_state`, which storage keeps unread).
    `to_json` writes every key; states of earlier releases may lack the later ones (`cause`,
    `fault`), so `from_json` reads each with its default."""

    tags: dict[str, str]
    phase: str  # Phase
    severity: str | None  # Severity
    since: str | None  # ISO 8601, like the other times
    alert_id: str | None
    last_value: float | None
    last_seen: str | None
    last_notified: str | None
    no_data_alert_id: str | None
    peak: float | None
    cause: str
    fault: str
    update_slot: int | None
    shown_at: str | None
    shown_value: float | None
    forgotten: bool


@dataclass(slots=True)
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
    peak: float | None = None  # the most extreme reading while firing
    cause: str = ""  # what the active level was reached by when not a threshold (rate words)
    fault: str = ""  # the probe fault now, in words (notifier.monitoring.probes); "" for none
    # The `update_every` slot (time // update_every) in which a firing series was last
    # considered for a live update of its card; when and which value its card last got.
    update_slot: int | None = None
    shown_at: datetime | None = None
    shown_value: float | None = None
    # No data for its rule's `forget_after`: its alerts ended; a point no newer than
    # `last_seen` is ignored, a newer one starts it afresh (the monitor drops it later).
    forgotten: bool = False

    def to_json(self) -> SeriesStateJson:
        return {
            "tags": self.tags, "phase": self.phase.value,
            "severity": self.severity.value if self.severity else None,
            "since": time_text(self.since), "alert_id": self.alert_id,
            "last_value": self.last_value, "last_seen": time_text(self.last_seen),
            "last_notified": time_text(self.last_notified),
            "no_data_alert_id": self.no_data_alert_id, "peak": self.peak,
            "cause": self.cause, "fault": self.fault,
            "update_slot": self.update_slot, "shown_at": time_text(self.shown_at),
            "shown_value": self.shown_value,
            "forgotten": self.forgotten,
        }

    def dumps(self) -> str:
        """The JSON text storage keeps (`storage.alert_state`)."""
        return json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def loads(cls, rule: str, key: str, text: str) -> SeriesState:
        return cls.from_json(rule, key, json.loads(text))

    @classmethod
    def from_json(cls, rule: str, key: str, data: SeriesStateJson) -> SeriesState:
        severity = data.get("severity")
        return cls(
            rule=rule, key=key, tags=dict(data.get("tags") or {}),
            phase=Phase(data.get("phase", "ok")),
            severity=Severity(severity) if severity else None,
            since=time_of(data.get("since")), alert_id=data.get("alert_id"),
            last_value=data.get("last_value"), last_seen=time_of(data.get("last_seen")),
            last_notified=time_of(data.get("last_notified")),
            no_data_alert_id=data.get("no_data_alert_id"),
            peak=data.get("peak"), cause=str(data.get("cause") or ""),
            fault=str(data.get("fault") or ""),
            update_slot=data.get("update_slot"), shown_at=time_of(data.get("shown_at")),
            shown_value=data.get("shown_value"),
            forgotten=bool(data.get("forgotten")),
        )


def classify(rule: Rule, value: float, current: Severity | None) -> tuple[Severity | None,
                                                                          float | None]:
    """The level `value` is at, given the level already active (for hysteresis)."""
    h = rule.hysteresis
    crit_active = current is Severity.CRIT
    above, below = rule.crit_above, rule.crit_below
    if above is not None and (value > above - h if crit_active else value >= above):
        return Severity.CRIT, above
    if below is not None and (value < below + h if crit_active else value <= below):
        return Severity.CRIT, below
    warn_active = current is not None
    above, below = rule.warn_above, rule.warn_below
    if above is not None and (value > above - h if warn_active else value >= above):
        return Severity.WARN, above
    if below is not None and (value < below + h if warn_active else value <= below):
        return Severity.WARN, below
    return None, None


def rate_level(rule: Rule, trend: Trend | None, active: Severity | None,
               cause: str, shared: bool = True) -> tuple[Severity | None, str]:
    """The level of a series' rate of rise and forecast, and the words for it. A rise the
    room does not share (`shared=False`) counts only while its newest minute still rises
    (the caller holds it for `RATE_HOLD`)."""
    if rule.rise_warn is None and rule.rise_crit is None and rule.forecast_within <= 0:
        return None, ""
    if trend is None:  # no trend yet (or since a step): an active rate level holds
        return (active, cause) if cause and active is not None else (None, "")
    holding = bool(cause) and active is not None
    sign = -1.0 if rule.below_only else 1.0
    slope = sign * trend.slope
    going_on = shared or (trend.recent is not None and sign * trend.recent >= slope / 2)
    if trend.good and slope > 0 and going_on:
        moving = "falling" if rule.below_only else "rising"  # judged on the trend, put in
        critical = rule.crit_below if rule.below_only else rule.crit_above  # words as told
        for severity, rate in ((Severity.CRIT, rule.rise_crit), (Severity.WARN, rule.rise_warn)):
            if rate is None:
                continue
            limit = rate.per_minute * (0.8 if holding and rank(active) >= rank(severity)
                                       else 1.0)
            # A critical rate holds over the whole window, not only its last minutes: a door
            # opened beside a probe is a minute's fast rise, a cooling failure keeps going.
            whole = sign * trend.sustained if trend.sustained is not None else None
            if severity is Severity.CRIT and (whole is None or whole < limit):
                continue
            if slope >= limit:
                # A warning says when the critical threshold comes, as a forecast does.
                return severity, told_words(
                    trend, moving, rule.unit, critical if severity is Severity.WARN else None,
                    limit=rate.words(rule.unit))
        if rule.forecast_within > 0 and critical is not None:
            when = minutes_to(trend, critical)
            horizon = rule.forecast_within / 60 * (1.25 if holding else 1.0)
            if when is not None and when[1] <= horizon:
                return Severity.WARN, told_words(trend, moving, rule.unit, critical)
    return None, ""


def update_slot(rule: Rule, now: datetime) -> int | None:
    """Which `update_every` slot `now` is in (slots start at the same instants for every
    series, so a room's series are considered in the same poll: one card update)."""
    return int(now.timestamp() // rule.update_every) if rule.update_every > 0 else None


def shows_change(rule: Rule, state: SeriesState, value: float, now: datetime) -> bool:
    """Whether a firing series' newer value goes to its card (a `reading` event): considered
    once per `update_every` slot (at its first fresh reading there), it goes when its card got
    its value at least `update_every` ago and it moved at least `SHOWN_CHANGE` since (a
    probe's jitter rewrites nothing). So a series waits a whole `update_every` after any event,
    and the series of a room that do go, go in the same poll: one update of their card."""
    slot = update_slot(rule, now)
    if slot is None or state.update_slot == slot:
        return False
    state.update_slot = slot
    if state.shown_at is not None and now - state.shown_at < rule.update_delta:
        return False
    # Rounded: 22.2 - 22.1 is 0.0999… in binary floating point.
    return state.shown_value is None or round(abs(value - state.shown_value), 9) >= SHOWN_CHANGE


def shown(rule: Rule, state: SeriesState, value: float | None, now: datetime) -> None:
    """An event told the series' value: its card has it, this slot is done."""
    state.update_slot, state.shown_at, state.shown_value = update_slot(rule, now), now, value


def expired(rule: Rule, state: SeriesState, now: datetime) -> bool:
    """A forgotten series whose last point has left every query window (`Rule.lookback`
    past `forget_after`): the monitor may drop its state."""
    return (state.forgotten and state.last_seen is not None and
            now - state.last_seen >= rule.forget_delta + timedelta(seconds=rule.lookback))


def step(
    rule: Rule, state: SeriesState, reading: Reading | None, now: datetime,
    trend: Trend | None = None, fault: bool = False, shared: bool = True,
) -> tuple[list[AlertEvent], bool]:
    """Advance one series; returns (events, whether `state` changed and must be saved)."""
    events: list[AlertEvent] = []
    changed = False

    def event(kind: EventKind, alert_id: str, **extra: Any) -> None:
        group = rule.incident_group(state.tags)
        inputs = reading.inputs if reading is not None and kind is not EventKind.NO_DATA else ""
        events.append(AlertEvent(kind=kind, rule=rule.name, alert_id=alert_id, at=now,
                                 series=dict(state.tags), unit=rule.unit, group=group,
                                 site=rule.site_group(state.tags),
                                 description=rule.description, links=rule.links_for(group),
                                 remind_every=rule.repeat, thresholds=rule.thresholds,
                                 inputs=inputs, **extra))

    fresh = reading is not None and (state.last_seen is None or reading.time > state.last_seen)
    if fresh:
        assert reading is not None
        state.tags, state.last_value, state.last_seen = reading.tags, reading.value, reading.time
        state.forgotten, changed = False, True
    stale = state.last_seen is not None and now - state.last_seen >= rule.no_data_delta
    if state.forgotten:
        return events, changed  # nothing newer than the point it was forgotten at
    if reading is None or stale:
        if stale and state.no_data_alert_id is None:
            state.no_data_alert_id = make_alert_id(rule.name, state.key, now)
            event(EventKind.NO_DATA, state.no_data_alert_id, since=state.last_seen,
                  value=state.last_value, detail=f"no data for {rule.no_data:g}s")
            changed = True
        elif (stale and state.no_data_alert_id is not None and state.last_seen is not None
              and rule.forget_after > 0 and now - state.last_seen >= rule.forget_delta):
            event(EventKind.FORGOTTEN, state.no_data_alert_id, since=state.last_seen,
                  detail=f"no data for {duration_words(rule.forget_after)}; not watched "
                         "until data comes again")
            # A newer point starts the series afresh: as if never seen, but its last point and
            # its no-data alert's id (its `data-back` tells a still open incident it is back).
            state.phase, state.severity, state.since, state.alert_id = Phase.OK, None, None, None
            state.last_notified, state.peak = None, None
            state.cause, state.fault, state.forgotten = "", "", True
            state.update_slot, state.shown_at, state.shown_value = None, None, None
            changed = True
        return events, changed

    if fresh and state.no_data_alert_id is not None:
        event(EventKind.DATA_BACK, state.no_data_alert_id, value=reading.value)
        state.no_data_alert_id = None

    if fault:
        return events, changed
    value = reading.value
    active = state.severity if state.phase is not Phase.OK else None
    # Hysteresis keeps a threshold that was crossed; a level the rate reached (cause) crossed
    # none: its thresholds count from the threshold itself (26.5 °C is no 27 °C warning).
    severity, threshold = classify(rule, value, None if state.cause else active)
    shared = shared or state.phase is Phase.FIRING  # the hold is for paging, not for ending
    rated, cause = rate_level(rule, trend, active, state.cause, shared)
    pending = rule.pending_delta
    if rank(rated) > rank(severity):
        severity, threshold = rated, None
        if not shared:  # a rise of its own must go on for RATE_HOLD before it pages
            pending = max(pending, RATE_HOLD)
    else:
        cause = ""
    if cause != state.cause:
        state.cause, changed = cause, True

    if state.phase is Phase.FIRING:
        assert state.alert_id is not None
        if fresh and rule.more_extreme(value, state.peak):
            state.peak = value
        if severity is None:
            event(EventKind.RESOLVED, state.alert_id, value=value,
                  previous_severity=state.severity, since=state.since, peak=state.peak)
            state.phase, state.severity, state.since = Phase.OK, None, None
            state.alert_id, state.last_notified, state.peak = None, None, None
            state.update_slot, state.shown_at, state.shown_value = None, None, None
            return events, True
        if severity is not state.severity:
            kind = EventKind.ESCALATED if severity is Severity.CRIT else EventKind.DEESCALATED
            event(kind, state.alert_id, severity=severity, previous_severity=state.severity,
                  value=value, threshold=threshold, since=state.since, peak=state.peak,
                  forecast=cause)
            state.severity, state.last_notified = severity, now
            shown(rule, state, value, now)
            return events, True
        due = state.last_notified is None or now - state.last_notified >= rule.repeat_delta
        if rule.repeat > 0 and due:
            event(EventKind.REMINDER, state.alert_id, severity=severity, value=value,
                  threshold=threshold, since=state.since, peak=state.peak, forecast=cause)
            state.last_notified = now
            shown(rule, state, value, now)
            return events, True
        if fresh and shows_change(rule, state, value, now):
            event(EventKind.READING, state.alert_id, severity=severity, value=value,
                  threshold=threshold, since=state.since, peak=state.peak, forecast=cause)
            shown(rule, state, value, now)
            return events, True
        return events, changed

    if severity is None:
        if state.phase is Phase.OK:
            return events, changed
        state.phase, state.severity, state.since = Phase.OK, None, None
        return events, True

    since = state.since if state.phase is Phase.PENDING and state.since else now
    if now - since >= pending:
        state.phase, state.severity, state.since = Phase.FIRING, severity, since
        state.alert_id = make_alert_id(rule.name, state.key, since)
        state.last_notified, state.peak = now, value
        shown(rule, state, value, now)
        event(EventKind.FIRED, state.alert_id, severity=severity, value=value,
              threshold=threshold, since=since, peak=value, forecast=cause)
        return events, True
    if state.phase is Phase.PENDING and state.severity is severity:
        return events, changed
    state.phase, state.severity, state.since = Phase.PENDING, severity, since
    return events, True
