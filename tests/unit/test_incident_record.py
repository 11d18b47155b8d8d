"""The incident as a typed record (notifier/alerts/record.py): documents the last release
wrote (tests/fixtures/documents, written by its `Incident.document()` and, for alerts recorded
before incidents, an `AlertEvent`'s fields) read back field by field and written again unchanged;
and cards rendered from the typed incident, compared with the golden cards the last release
rendered from the same documents (tests/fixtures/documents/cards.json)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.alerts.events import AlertEvent, EventKind, Severity
from notifier.alerts.incidents import Change, Incident, Member
from notifier.alerts.record import (
    HOLD_MAX,
    OPEN_KINDS,
    AlertRecord,
    Counts,
    HotMember,
    IncidentSnapshot,
    breaks_snooze,
    rank,
)
from notifier.delivery import cards
from notifier.delivery.feed import notice_line
from notifier.delivery.view import IncidentView
from storage.alerts import Snooze, StoredAlert
from tests.unit.clock import START

DOCUMENTS = Path(__file__).parent.parent / "fixtures" / "documents"


def stored(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DOCUMENTS / f"{name}.json").read_text())
    return data


def test_an_incident_document_of_the_last_release_reads_as_typed_fields() -> None:
    incident = IncidentSnapshot.from_json(stored("incident")["document"])
    assert incident.kind is EventKind.ESCALATED and incident.open and incident.incident
    assert incident.severity is Severity.CRIT and incident.rule == "server-room-temperature"
    assert incident.series == {"room": "r1"} and incident.series_key == "room=r1"
    assert incident.since == START and incident.critical_since == START + timedelta(minutes=3)
    assert incident.ended_at is None and incident.members == 2 and incident.several
    assert incident.counts == Counts(crit=1, warn=1, no_data=0, ok=0)
    assert (incident.peak, incident.peak_label, incident.value) == (33.4, "rack-2", 33.1)
    assert incident.links == {"runbook": "https://runbooks.example.com/hot"}
    assert incident.thresholds == {"warn_above": 27.0, "crit_above": 32.0}
    assert incident.broken_snoozes == (("tenant-1", "19:chat", "2026-11-21T11:00:00+00:00"),)
    assert list(incident.probe_faults.values()) == ["rack-3: reads 85 °C, outside -20..80 °C"]
    top = incident.hottest[0]
    assert top == HotMember(label="rack-2", tags={"room": "r1", "sensor": "rack-2"}, value=33.1,
                            threshold=32.0, severity=Severity.CRIT, no_data=False, trend=None,
                            inputs="", at=START + timedelta(minutes=3))
    assert top.level == "critical" and incident.hottest[1].trend == 0.4
    assert not incident.silenceable


@pytest.mark.parametrize("name", ["incident", "incident_resolved"])
def test_an_incident_document_is_written_again_exactly_as_it_was_read(name: str) -> None:
    document = stored(name)["document"]
    again = IncidentSnapshot.from_json(document).to_json()
    assert again == document
    assert json.loads(IncidentSnapshot.loads(json.dumps(document)).dumps()) == document


def test_an_ended_incident_is_not_open() -> None:
    incident = IncidentSnapshot.from_json(stored("incident_resolved")["document"])
    assert incident.kind is EventKind.RESOLVED and not incident.open
    assert incident.ended_at == START + timedelta(minutes=23) and incident.severity is None


def test_an_alert_recorded_before_incidents_reads_as_an_incident_of_its_series() -> None:
    legacy = IncidentSnapshot.from_json(stored("legacy_alert")["document"])
    assert not legacy.incident and legacy.open and legacy.kind is EventKind.FIRED
    assert legacy.series == {"room": "r1", "sensor": "rack-1"}
    assert legacy.series_key == "room=r1\x1fsensor=rack-1"
    assert (legacy.value, legacy.threshold, legacy.severity) == (28.0, 27.0, Severity.WARN)
    assert legacy.members == 0 and not legacy.several and legacy.hottest == ()
    # The planner folds it into the incident of its one series.
    incident = Incident.from_snapshot("0123456789abcdef", legacy, {})
    assert incident.open and incident.group == legacy.series and incident.opened_at == START


def test_a_document_older_than_its_fields_reads_with_defaults() -> None:
    old = IncidentSnapshot.from_json({"kind": "no-data", "series": {"room": "r1"}})
    assert old.open and old.source == "influxdb" and old.series_key == "room=r1"
    assert old.severity is None and old.counts == Counts() and old.links == {}
    assert IncidentSnapshot.from_json({"kind": "something-new"}).kind is EventKind.FIRED
    assert IncidentSnapshot.from_json({"source": "alertmanager"}).silenceable


def test_the_stored_incident_and_its_series_give_back_the_same_incident() -> None:
    data = stored("incident")
    snapshot = IncidentSnapshot.from_json(data["document"])
    members = {key: Member.from_json(key, value) for key, value in data["series"].items()}
    incident = Incident.from_snapshot("id-rack-1", snapshot, members)
    assert incident.kind is EventKind.ESCALATED and incident.severity is Severity.CRIT
    assert incident.broken_snoozes == {("tenant-1", "19:chat"): "2026-11-21T11:00:00+00:00"}
    assert incident.snapshot() == snapshot
    assert {key: json.loads(m.dumps()) for key, m in incident.members.items()} == data["series"]


def test_apply_and_settle_on_a_stored_incident_resolve_it_and_say_so() -> None:
    data = stored("incident")
    members = {key: Member.from_json(key, value) for key, value in data["series"].items()}
    incident = Incident.from_snapshot(
        "id-rack-1", IncidentSnapshot.from_json(data["document"]), members)
    later = START + timedelta(minutes=30)
    for sensor in ("rack-1", "rack-2"):
        incident.apply(AlertEvent(kind=EventKind.RESOLVED, rule="server-room-temperature",
                                  alert_id=f"id-{sensor}", at=later, value=24.0,
                                  series={"room": "r1", "sensor": sensor}, group={"room": "r1"}))
    assert incident.settle(later, EventKind.RESOLVED) is Change.RESOLVED
    snapshot = incident.snapshot()
    assert snapshot.kind is EventKind.RESOLVED and not snapshot.open
    assert snapshot.ended_at == later and snapshot.counts == Counts(ok=2)
    assert snapshot.peak == 33.4  # a resolved series' own value does not lower the peak


def test_the_domain_rules_are_stated_once() -> None:
    assert rank(None) < rank(Severity.WARN) < rank(Severity.CRIT)
    assert EventKind.TEST not in OPEN_KINDS and EventKind.RESOLVED not in OPEN_KINDS
    warning = Snooze(until=START, by_name=None, severity="warn")
    assert breaks_snooze(warning, Severity.CRIT) and not breaks_snooze(warning, Severity.WARN)
    assert not breaks_snooze(Snooze(START, None, "crit"), Severity.CRIT)
    assert breaks_snooze(Snooze(START, None, None), Severity.WARN)  # a snooze of no data
    assert HOLD_MAX == timedelta(days=7)


def test_a_stored_row_is_read_once_into_a_typed_record() -> None:
    row = StoredAlert("0123456789abcdef", "server-room-temperature",
                      json.dumps(stored("incident")["document"]), "Dana", START, True)
    record = AlertRecord.of(row)
    assert record.open and record.incident.severity is Severity.CRIT
    assert record.acknowledged_by == "Dana" and record.acknowledged_at == START


GOLDEN = json.loads((DOCUMENTS / "cards.json").read_text())


@pytest.mark.parametrize("name", ["incident", "incident_resolved", "legacy_alert"])
def test_cards_and_texts_from_the_typed_incident_are_the_last_releases(name: str) -> None:
    incident = IncidentSnapshot.from_json(stored(name)["document"])
    acknowledged = name == "incident"
    record = AlertRecord("0123456789abcdef", "server-room-temperature", incident,
                         "Dana Reyes" if acknowledged else None,
                         START + timedelta(minutes=5) if acknowledged else None)
    snooze = Snooze(START + timedelta(hours=1), "Alex Wilber", "warn") if acknowledged else None
    golden = GOLDEN[name]
    assert IncidentView(record, snooze=snooze).card(START + timedelta(minutes=12)) == \
        golden["card"]
    assert cards.summary(incident) == golden["activity_summary"]
    assert cards.reminder_text(incident) == golden["reminder"]
    assert cards.resolved_text(incident) == golden["resolved"]
    assert notice_line(incident) == golden["notice"]
