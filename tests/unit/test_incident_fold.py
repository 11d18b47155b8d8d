"""Incidents (notifier/alerts/incidents.py) folded from events directly: a room's series open,
escalate, join, leave and resolve one incident; what people are told of each batch."""

from __future__ import annotations

import json
from datetime import datetime

from notifier.alerts.events import AlertEvent, EventKind, Severity
from notifier.alerts.incidents import Change, Incident, Member
from notifier.alerts.record import Counts, IncidentSnapshot
from tests.unit.clock import FakeClock

ROOM = {"room": "r1"}
ABOVE = {"warn_above": 27.0, "crit_above": 32.0}


def event(kind: EventKind, sensor: str, at: datetime, severity: Severity | None = None,
          value: float | None = None, threshold: float | None = None,
          **extra: object) -> AlertEvent:
    return AlertEvent(kind=kind, rule="hot", alert_id=f"id-{sensor}", at=at,
                      series={"room": "r1", "sensor": sensor}, severity=severity, value=value,
                      threshold=threshold, group=dict(ROOM), since=at, unit="°C",
                      thresholds=dict(extra.pop("thresholds", ABOVE)),  # type: ignore[arg-type]
                      **extra)  # type: ignore[arg-type]


class Room:
    """One incident, fed batches of events at the fake clock's time."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.incident: Incident | None = None

    def batch(self, *events: AlertEvent) -> Change:
        if self.incident is None:
            self.incident = Incident.open_with(events[0])
        for item in events:
            self.incident.apply(item)
        change = self.incident.settle(self.clock.now, events[-1].kind)
        self.incident.dirty.clear()
        return change

    def fired(self, sensor: str, value: float, severity: Severity = Severity.WARN,
              after: float = 0.0) -> Change:
        at = self.clock.advance(after)
        threshold = 32.0 if severity is Severity.CRIT else 27.0
        return self.batch(event(EventKind.FIRED, sensor, at, severity, value, threshold))

    def resolved(self, sensor: str, value: float = 22.0, after: float = 0.0) -> Change:
        return self.batch(event(EventKind.RESOLVED, sensor, self.clock.advance(after),
                                value=value))

    @property
    def it(self) -> Incident:
        assert self.incident is not None
        return self.incident


def test_the_first_series_opens_the_incident_with_its_alert_id() -> None:
    room = Room()
    assert room.fired("s1", 28.0) is Change.ESCALATED
    assert room.it.alert_id == "id-s1" and room.it.kind == "fired"
    assert room.it.severity is Severity.WARN and room.it.open
    assert room.it.group == ROOM


def test_a_second_warning_series_joins_as_an_update() -> None:
    room = Room()
    room.fired("s1", 28.0)
    assert room.fired("s2", 29.0, after=10) is Change.UPDATED
    assert room.it.counts() == Counts(crit=0, warn=2, no_data=0, ok=0)
    assert room.it.kind == "fired"


def test_a_critical_series_escalates_the_incident_and_starts_its_escalation_clock() -> None:
    room = Room()
    room.fired("s1", 28.0)
    assert room.fired("s2", 33.0, Severity.CRIT, after=10) is Change.ESCALATED
    assert room.it.severity is Severity.CRIT and room.it.kind == "escalated"
    assert room.it.critical_since == room.clock.now


def test_the_critical_series_leaving_de_escalates() -> None:
    room = Room()
    room.fired("s1", 28.0)
    room.fired("s2", 33.0, Severity.CRIT, after=10)
    assert room.resolved("s2", after=10) is Change.UPDATED
    assert room.it.severity is Severity.WARN and room.it.kind == "de-escalated"
    assert room.it.critical_since is None
    assert room.it.counts().ok == 1  # back to ok, still shown


def test_the_last_series_back_resolves_the_incident() -> None:
    room = Room()
    room.fired("s1", 28.0)
    room.fired("s2", 29.0, after=10)
    room.resolved("s1", after=10)
    assert room.it.open
    assert room.resolved("s2", after=10) is Change.RESOLVED
    assert not room.it.open and room.it.kind == "resolved"
    assert room.it.ended_at == room.clock.now


def test_an_incident_that_ends_with_data_back_says_so() -> None:
    room = Room()
    at = room.clock.now
    assert room.batch(event(EventKind.NO_DATA, "s1", at, detail="no data for 300s")) \
        is Change.UPDATED
    assert room.it.open and room.it.counts().no_data == 1
    assert room.it.detail == "no data for 300s"
    assert room.batch(event(EventKind.DATA_BACK, "s1", room.clock.advance(60), value=22.0)) \
        is Change.RESOLVED
    assert room.it.kind == "data-back"


def test_a_forgotten_series_leaves_the_incident_neither_in_trouble_nor_back_to_ok() -> None:
    room = Room()
    room.fired("s1", 28.0)
    room.batch(event(EventKind.NO_DATA, "s2", room.clock.advance(10)))
    detail = "no data for 7 d; not watched until data comes again"
    assert room.batch(event(EventKind.FORGOTTEN, "s2", room.clock.advance(7 * 86400),
                            detail=detail)) is Change.UPDATED  # s1 still fires
    assert room.it.open and room.it.snapshot().detail == f"s2: {detail}"
    counts = room.it.counts()
    assert (counts.warn, counts.no_data, counts.ok) == (1, 0, 0)
    room.resolved("s1", after=10)
    assert not room.it.open and room.it.kind == "resolved"  # s1's end ended it

    alone = Room()
    alone.batch(event(EventKind.NO_DATA, "s1", alone.clock.now))
    assert alone.batch(event(EventKind.FORGOTTEN, "s1", alone.clock.advance(7 * 86400),
                             detail=detail)) is Change.RESOLVED
    assert alone.it.kind == "forgotten" and alone.it.counts().ok == 0


def test_several_series_let_go_are_all_named_and_one_reporting_again_is_not() -> None:
    room = Room()
    room.fired("s9", 28.0)
    words = "no data for 7 d; not watched until data comes again"
    for sensor in ("s1", "s2", "s3", "s4", "s5", "s6", "s7"):
        room.batch(event(EventKind.NO_DATA, sensor, room.clock.now))
        room.batch(event(EventKind.FORGOTTEN, sensor, room.clock.advance(1), detail=words))
    assert room.it.snapshot().detail == f"s1, s2, s3, s4, s5 and 2 more: {words}"
    room.fired("s1", 28.5, after=60)  # it reports again (hot): named no more
    assert room.it.snapshot().detail.startswith("s2, s3, s4, s5, s6 and 1 more: ")
    room.batch(event(EventKind.DATA_BACK, "s2", room.clock.advance(1), value=22.0))  # normal
    assert room.it.snapshot().detail.startswith("s3, s4, s5, s6, s7: ")
    assert room.it.counts().ok == 1  # s2 reports, back to ok
    stored = {key: Member.from_json(key, json.loads(m.dumps())) for key, m in
              room.it.members.items()}
    assert stored == room.it.members  # the words survive storage


def test_the_peak_is_the_hottest_value_seen_while_firing_and_names_its_series() -> None:
    room = Room()
    room.fired("s1", 28.0)
    room.fired("s2", 30.0, after=10)
    room.batch(event(EventKind.REMINDER, "s1", room.clock.advance(10), Severity.WARN, 29.0,
                     27.0))
    assert room.it.peak == 30.0 and room.it.peak_label == "s2"


def test_a_newer_reading_updates_the_card_values_and_peak_but_not_what_people_were_told() -> None:
    room = Room()
    room.fired("s1", 28.0)
    change = room.batch(event(EventKind.READING, "s1", room.clock.advance(60), Severity.WARN,
                              29.25, 27.0, peak=29.5, trend=0.3))
    assert change is Change.UPDATED  # the card is updated in place, gathered like any update
    [member] = room.it.members.values()
    assert member.value == 29.25 and member.seen == room.clock.now and member.trend == 0.3
    assert room.it.peak == 29.5 and room.it.kind is EventKind.FIRED
    assert room.it.severity is Severity.WARN


def test_a_below_only_rule_peaks_at_the_lowest_value() -> None:
    room = Room()
    below = {"warn_below": 18.0}
    room.batch(event(EventKind.FIRED, "s1", room.clock.now, Severity.WARN, 17.0, 18.0,
                     thresholds=below))
    room.batch(event(EventKind.FIRED, "s2", room.clock.advance(5), Severity.WARN, 16.0, 18.0,
                     thresholds=below))
    room.batch(event(EventKind.REMINDER, "s1", room.clock.advance(5), Severity.WARN, 17.5,
                     18.0, thresholds=below))
    assert room.it.peak == 16.0


def test_the_hottest_are_ranked_by_severity_then_distance_past_the_threshold() -> None:
    room = Room()
    room.fired("s1", 28.0)
    room.fired("s2", 30.0)
    room.fired("s3", 32.5, Severity.CRIT)
    assert [m.tags["sensor"] for m in room.it.hottest()] == ["s3", "s2", "s1"]
    assert len(room.it.hottest(limit=2)) == 2


def test_members_that_paged_on_their_rate_rank_by_value() -> None:
    room = Room()
    at = room.clock.advance(1)
    words = "rising 1.2 °C/min, limit 5 °C per 15 min"
    room.batch(*[event(EventKind.FIRED, sensor, at, Severity.WARN, value, None, forecast=words)
                 for sensor, value in (("rack-3", 25.3), ("rack-4", 24.9), ("rack-5", 24.3))])
    assert [m.tags["sensor"] for m in room.it.hottest()] == ["rack-3", "rack-4", "rack-5"]


def test_a_member_is_labelled_by_what_its_group_does_not_say() -> None:
    room = Room()
    room.fired("rack-3-inlet", 28.0)
    [member] = room.it.members.values()
    assert room.it.label(member) == "rack-3-inlet"


def test_a_batch_that_changes_nothing_tells_nobody() -> None:
    room = Room()
    room.fired("s1", 28.0)
    assert room.it.settle(room.clock.advance(5), EventKind.REMINDER) is Change.NONE


def test_reminders_of_the_whole_incident_are_due_once_per_interval_with_slack() -> None:
    room = Room()
    room.batch(event(EventKind.FIRED, "s1", room.clock.now, Severity.WARN, 28.0, 27.0,
                     remind_every=600.0))
    assert not room.it.reminder_due(room.clock.advance(500))
    assert room.it.reminder_due(room.clock.advance(70))  # 570 s >= 95% of 600 s
    room.resolved("s1")
    assert not room.it.reminder_due(room.clock.advance(600))  # closed


def test_the_stored_document_and_members_give_back_the_same_incident() -> None:
    room = Room()
    room.fired("s1", 28.0)
    room.fired("s2", 33.0, Severity.CRIT, after=10)
    document = IncidentSnapshot.loads(room.it.snapshot().dumps())
    assert document.severity is Severity.CRIT and document.members == 2
    assert document.counts.crit == 1 and document.hottest[0].label == "s2"
    members = {key: Member.from_json(key, json.loads(member.dumps()))
               for key, member in room.it.members.items()}
    again = Incident.from_snapshot(room.it.alert_id, document, members)
    assert again.severity is Severity.CRIT and again.open
    assert again.members == room.it.members
    assert again.snapshot() == document


def test_trend_and_forecast_follow_the_latest_event_and_clear_on_resolve() -> None:
    room = Room()
    at = room.clock.now
    room.batch(event(EventKind.FIRED, "s1", at, Severity.WARN, 28.0, 27.0, trend=0.4,
                     forecast="rising 0.4 °C/min, critical in ~10 min"))
    assert room.it.snapshot().forecast.startswith("rising 0.4")
    room.resolved("s1", after=60)
    [member] = room.it.members.values()
    assert member.forecast == "" and member.trend == 0.4
