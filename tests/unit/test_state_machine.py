"""The per-series state machine (notifier/monitoring/engine.py) step by step, with a fake
clock: thresholds, `for`, escalation, hysteresis, reminders, no data."""

from __future__ import annotations

from datetime import timedelta

import pytest

from notifier.alerts.events import EventKind, Severity, make_alert_id, series_key
from notifier.monitoring.engine import Phase, Reading, SeriesState, classify, expired, step
from notifier.monitoring.rules import Rule
from tests.unit.clock import FakeClock

TAGS = {"room": "r1", "sensor": "s1"}
KEY = series_key(TAGS)


def rule(**overrides: object) -> Rule:
    fields: dict[str, object] = {"name": "hot", "measurement": "temperature",
                                 "warn_above": 27.0, "crit_above": 32.0, "repeat": 0.0,
                                 "no_data": 300.0}
    fields.update(overrides)
    return Rule(**fields)  # type: ignore[arg-type]


class Series:
    """One series driven through `step` with readings taken at the clock's time."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.clock = FakeClock()
        self.state = SeriesState(rule=rule.name, key=KEY)

    def read(self, value: float, after: float = 0.0) -> list[EventKind]:
        now = self.clock.advance(after)
        events, _ = step(self.rule, self.state, Reading(dict(TAGS), value, now), now)
        self.events = events
        return [e.kind for e in events]

    def silent(self, after: float) -> list[EventKind]:
        now = self.clock.advance(after)
        events, _ = step(self.rule, self.state, None, now)
        self.events = events
        return [e.kind for e in events]


def test_a_cool_reading_changes_nothing_but_the_last_value() -> None:
    series = Series(rule())
    assert series.read(22.0) == []
    assert series.state.phase is Phase.OK
    assert series.state.last_value == 22.0


def test_a_hot_reading_without_for_fires_a_warning_at_once() -> None:
    series = Series(rule())
    assert series.read(28.0) == [EventKind.FIRED]
    [fired] = series.events
    assert fired.severity is Severity.WARN and fired.threshold == 27.0
    assert fired.value == 28.0 and fired.since == series.clock.now
    assert series.state.phase is Phase.FIRING


def test_thresholds_are_inclusive() -> None:
    series = Series(rule())
    assert series.read(27.0) == [EventKind.FIRED]
    assert series.events[0].severity is Severity.WARN


def test_a_reading_past_critical_fires_critical() -> None:
    series = Series(rule())
    series.read(33.0)
    assert series.events[0].severity is Severity.CRIT
    assert series.events[0].threshold == 32.0


def test_the_alert_id_is_made_from_rule_series_and_start() -> None:
    series = Series(rule())
    series.read(28.0)
    assert series.events[0].alert_id == make_alert_id("hot", KEY, series.clock.now)
    assert series.state.alert_id == series.events[0].alert_id


def test_for_waits_in_pending_then_fires_with_the_first_hot_moment_as_since() -> None:
    series = Series(rule(pending=60.0))
    first = series.clock.advance(0)
    assert series.read(28.0) == []
    assert series.state.phase is Phase.PENDING
    assert series.read(28.5, after=30) == []
    assert series.read(28.5, after=30) == [EventKind.FIRED]
    assert series.events[0].since == first


def test_a_cool_reading_cancels_pending_silently() -> None:
    series = Series(rule(pending=60.0))
    series.read(28.0)
    assert series.read(25.0, after=30) == []
    assert series.state.phase is Phase.OK and series.state.since is None
    assert series.read(28.0, after=40) == []  # a new pending period, not the old one
    assert series.state.phase is Phase.PENDING


def test_a_hotter_level_joins_the_same_pending_period() -> None:
    series = Series(rule(pending=60.0))
    first = series.clock.advance(0)
    series.read(28.0)
    assert series.read(33.0, after=30) == []
    assert series.state.severity is Severity.CRIT and series.state.since == first
    assert series.read(33.0, after=30) == [EventKind.FIRED]
    assert series.events[0].severity is Severity.CRIT


def test_warning_to_critical_while_firing_escalates_at_once() -> None:
    series = Series(rule(pending=600.0))
    series.read(28.0)
    series.read(28.0, after=600)
    assert series.read(33.0, after=5) == [EventKind.ESCALATED]
    escalated = series.events[0]
    assert escalated.severity is Severity.CRIT
    assert escalated.previous_severity is Severity.WARN
    assert escalated.alert_id == series.state.alert_id  # the same alert


def test_critical_to_warning_deescalates() -> None:
    series = Series(rule())
    series.read(33.0)
    assert series.read(29.0, after=5) == [EventKind.DEESCALATED]
    assert series.events[0].severity is Severity.WARN
    assert series.events[0].previous_severity is Severity.CRIT


def test_hysteresis_keeps_an_active_level_until_the_value_is_past_it() -> None:
    series = Series(rule(hysteresis=1.0))
    series.read(27.5)
    assert series.read(26.5, after=5) == []  # above 27 - 1: still firing
    assert series.state.phase is Phase.FIRING
    assert series.read(25.9, after=5) == [EventKind.RESOLVED]


def test_hysteresis_does_not_lower_the_threshold_to_fire() -> None:
    series = Series(rule(hysteresis=1.0))
    assert series.read(26.5) == []


def test_resolving_reports_the_previous_severity_and_resets_the_state() -> None:
    series = Series(rule())
    series.read(33.0)
    alert_id = series.state.alert_id
    assert series.read(20.0, after=5) == [EventKind.RESOLVED]
    resolved = series.events[0]
    assert resolved.previous_severity is Severity.CRIT and resolved.alert_id == alert_id
    assert series.state.phase is Phase.OK and series.state.alert_id is None


def test_reminders_come_once_per_repeat_interval() -> None:
    series = Series(rule(repeat=60.0))
    series.read(28.0)
    assert series.read(28.0, after=30) == []
    assert series.read(28.0, after=30) == [EventKind.REMINDER]
    assert series.read(28.0, after=30) == []
    assert series.read(28.0, after=30) == [EventKind.REMINDER]


def test_repeat_zero_never_reminds() -> None:
    series = Series(rule(repeat=0.0))
    series.read(28.0)
    assert series.read(28.0, after=86400) == []


def test_an_escalation_restarts_the_reminder_timer() -> None:
    series = Series(rule(repeat=60.0))
    series.read(28.0)
    series.read(33.0, after=50)
    assert series.read(33.0, after=20) == []  # 70 s since firing, 20 s since escalating
    assert series.read(33.0, after=40) == [EventKind.REMINDER]


def test_a_firing_series_newer_value_goes_to_its_card_once_per_update_every() -> None:
    series = Series(rule(update_every=60.0))  # the clock starts on a whole minute
    series.read(28.0)
    assert series.read(29.0, after=30) == []  # the minute the card got 28.0
    assert series.read(29.5, after=30) == [EventKind.READING]  # the next minute's first
    [reading] = series.events
    assert reading.value == 29.5 and reading.peak == 29.5 and reading.severity is Severity.WARN
    assert reading.alert_id == series.state.alert_id and reading.threshold == 27.0
    assert series.read(29.55, after=60) == []  # under a tenth of a degree: jitter
    assert series.read(29.95, after=30) == []  # this minute was considered already
    assert series.read(29.9, after=30) == [EventKind.READING]
    assert series.events[0].peak == 29.95  # the peak the poller kept in between
    assert series.read(29.75, after=60) == [EventKind.READING]  # falling counts too


def test_a_tenth_of_a_degree_counts_whatever_the_binary_fraction() -> None:
    series = Series(rule(update_every=60.0, warn_above=20.0))
    series.read(22.1)
    assert series.read(22.2, after=60) == [EventKind.READING]  # 22.2 - 22.1 < 0.1 in floats


def test_the_series_of_a_room_go_to_their_card_together() -> None:
    """A series waits a whole `update_every` after its card got its value, and is looked at
    once per slot (slots start at the same instants for every series): series that fired
    apart update their card in the same poll, not one after another every poll."""
    the_rule, clock = rule(update_every=60.0), FakeClock()  # the clock starts at 10:00:00
    states = [SeriesState(rule="hot", key=f"s{n}") for n in range(2)]

    def poll(after: float, *values: float) -> list[int]:
        now = clock.advance(after)
        return [n for n, (state, value) in enumerate(zip(states, values, strict=True))
                if step(the_rule, state,
                        Reading({"room": "r1", "sensor": f"s{n}"}, value, now), now)[0]]

    assert poll(5, 28.0, 22.0) == [0]  # 10:00:05: s0 fires
    assert poll(35, 28.5, 28.0) == [1]  # 10:00:40: s1 fires
    assert poll(25, 29.0, 28.5) == [0]  # 10:01:05: s0's first minute is over, s1's is not
    assert poll(35, 29.5, 29.5) == []  # this minute was looked at
    assert poll(25, 30.0, 30.0) == [0, 1]  # 10:02:05: both, in one poll
    assert poll(35, 30.5, 30.5) == []
    assert poll(25, 31.0, 31.0) == [0, 1]  # 10:03:05: and so on, together


def test_a_reminder_or_an_escalation_carries_the_value_and_restarts_the_update_clock() -> None:
    series = Series(rule(update_every=60.0, repeat=90.0))
    series.read(28.0)
    assert series.read(28.5, after=60) == [EventKind.READING]
    assert series.read(29.0, after=30) == [EventKind.REMINDER]  # 90 s: the reminder has it
    assert series.read(29.5, after=30) == []  # a new minute, but 30 s after the reminder
    assert series.read(33.0, after=1) == [EventKind.ESCALATED]
    assert series.read(33.5, after=58) == []
    assert series.read(33.5, after=1) == []  # 59 s after the escalation: the next minute
    assert series.read(34.0, after=60) == [EventKind.REMINDER]  # due again: it has the value
    assert series.read(34.5, after=60) == [EventKind.READING]


def test_update_every_zero_leaves_the_card_to_the_events() -> None:
    series = Series(rule(update_every=0.0))
    series.read(28.0)
    assert series.read(30.0, after=600) == []


def test_a_series_silent_for_forget_after_is_forgotten_with_its_alerts() -> None:
    series = Series(rule(no_data=300.0, forget_after=86400.0))
    series.read(33.0)  # critical, then the sensor is taken out
    last_seen, firing = series.clock.now, series.state.alert_id
    assert series.silent(after=300) == [EventKind.NO_DATA]
    no_data = series.state.no_data_alert_id
    assert series.silent(after=86400 - 301) == []
    assert series.silent(after=1) == [EventKind.FORGOTTEN]
    [forgotten] = series.events
    assert forgotten.alert_id == no_data and forgotten.alert_id != firing
    assert forgotten.since == last_seen and forgotten.value is None
    assert forgotten.detail == "no data for 1 d; not watched until data comes again"
    # Forgotten: the old point (a query window may still hold it) brings nothing back...
    assert series.state.forgotten and series.state.alert_id is None
    assert series.silent(after=60) == []
    events, _ = step(series.rule, series.state, Reading(dict(TAGS), 33.0, last_seen),
                     series.clock.now)
    assert events == [] and series.state.forgotten
    assert not expired(series.rule, series.state, series.clock.now)
    # ...and once that point is out of every window (lookback past forget_after), it may go.
    later = last_seen + timedelta(seconds=86400 + series.rule.lookback)
    assert expired(series.rule, series.state, later)
    # A newer point starts it afresh, saying it is back (an incident still open hears it);
    # hot, it fires a new alert.
    assert series.read(33.0, after=60) == [EventKind.DATA_BACK, EventKind.FIRED]
    assert series.events[0].alert_id == no_data
    assert not series.state.forgotten and series.state.alert_id not in (None, firing)
    assert series.silent(after=300) == [EventKind.NO_DATA]  # and is watched again


def test_forget_after_zero_keeps_a_silent_series_forever() -> None:
    series = Series(rule(no_data=300.0, forget_after=0.0))
    series.read(22.0)
    assert series.silent(after=300) == [EventKind.NO_DATA]
    assert series.silent(after=365 * 86400) == []


def test_a_series_that_goes_silent_raises_no_data_once() -> None:
    series = Series(rule(no_data=300.0))
    series.read(22.0)
    assert series.silent(after=299) == []
    assert series.silent(after=1) == [EventKind.NO_DATA]
    assert series.events[0].detail == "no data for 300s"
    assert series.silent(after=60) == []


def test_the_same_point_again_is_not_new_data() -> None:
    series = Series(rule(no_data=300.0))
    series.read(22.0)
    seen = series.state.last_seen
    now = series.clock.advance(310)
    events, _ = step(series.rule, series.state, Reading(dict(TAGS), 22.0, seen), now)
    assert [e.kind for e in events] == [EventKind.NO_DATA]  # an old point does not count


def test_data_back_then_the_new_point_is_evaluated() -> None:
    series = Series(rule(no_data=300.0))
    series.read(22.0)
    series.silent(after=300)
    no_data_id = series.state.no_data_alert_id
    assert series.read(28.0, after=10) == [EventKind.DATA_BACK, EventKind.FIRED]
    assert series.events[0].alert_id == no_data_id
    assert series.state.no_data_alert_id is None


def test_below_thresholds_fire_when_the_value_falls() -> None:
    series = Series(rule(warn_above=None, crit_above=None, warn_below=18.0, crit_below=15.0,
                         hysteresis=0.5))
    assert series.read(17.0) == [EventKind.FIRED]
    assert series.events[0].severity is Severity.WARN and series.events[0].threshold == 18.0
    assert series.read(14.0, after=5) == [EventKind.ESCALATED]
    assert series.read(18.2, after=5) == [EventKind.DEESCALATED]  # below 18 + 0.5: active
    assert series.read(18.6, after=5) == [EventKind.RESOLVED]


@pytest.mark.parametrize("value,current,expected", [
    (31.9, None, Severity.WARN), (32.0, None, Severity.CRIT), (31.5, Severity.CRIT, Severity.CRIT),
    (30.9, Severity.CRIT, Severity.WARN), (26.5, Severity.WARN, Severity.WARN),
    (25.9, Severity.WARN, None), (26.9, None, None),
])
def test_classify_with_hysteresis(value: float, current: Severity | None,
                                  expected: Severity | None) -> None:
    assert classify(rule(hysteresis=1.0), value, current)[0] is expected


def test_events_carry_the_rule_description_links_group_and_reminder_interval() -> None:
    series = Series(rule(description="Server room air", repeat=600.0,
                         links={"runbook": "https://wiki.example.com/r?room={room}"}))
    series.read(28.0)
    [fired] = series.events
    assert fired.description == "Server room air" and fired.remind_every == 600.0
    assert fired.group == {"room": "r1"}  # one incident per room by default
    assert fired.links == {"runbook": "https://wiki.example.com/r?room=r1"}
    assert fired.thresholds == {"warn_above": 27.0, "crit_above": 32.0}


def test_series_state_survives_a_json_round_trip() -> None:
    series = Series(rule(repeat=60.0))
    series.read(33.0)
    series.clock.advance(timedelta(minutes=1).total_seconds())
    again = SeriesState.from_json("hot", KEY, series.state.to_json())
    assert again == series.state


def test_step_says_whether_the_state_must_be_saved() -> None:
    series = Series(rule())
    now = series.clock.now
    _, changed = step(series.rule, series.state, Reading(dict(TAGS), 22.0, now), now)
    assert changed  # a new point
    _, changed = step(series.rule, series.state, Reading(dict(TAGS), 22.0, now), now)
    assert not changed  # the same point again
