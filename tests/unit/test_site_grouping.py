"""The pure rules of site events (notifier/alerts/sites.py), the `site_by` key and the site
card's words."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from common.errors import ConfigError
from notifier.alerts.record import AlertRecord, IncidentSnapshot
from notifier.alerts.sites import (
    RoomLine,
    Site,
    common_hint,
    is_site,
    on_site_card,
    opens_site,
    room_line,
    site_group_key,
)
from notifier.delivery.sitecard import site_card, site_escalation_text, site_resolved_text
from notifier.monitoring.rules import parse_rules

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
RULE = """
[[rule]]
name = "hall"
measurement = "temperature"
group_by = ["site", "room", "sensor"]
incident_by = ["site", "room"]
warn_above = 27.0
"""


def room(alert_id: str, label: str, severity: str | None = "warn", value: float = 28.0,
         hint: str = "", is_open: bool = True) -> RoomLine:
    return RoomLine(alert_id, label, is_open, severity, crit=int(severity == "crit"),
                    warn=int(severity == "warn"), hottest="rack-1", value=value, hint=hint,
                    unit="°C")


def test_a_site_event_needs_two_rooms_open_at_once() -> None:
    assert not opens_site(0) and not opens_site(1)
    assert opens_site(2) and opens_site(20)


def test_a_chat_is_on_the_site_card_with_two_open_rooms_or_once_it_has_it() -> None:
    a, b, c = ("t", "a"), ("t", "b"), ("t", "c")
    told = {a: {"r1", "r2"}, b: {"r1"}, c: {"r1", "r3"}}
    # b was told of one room only (say an escalation target): its room card stays; c's
    # second room has ended, so it has one open room too.
    assert on_site_card(told, {"r1", "r2"}, set()) == {a}
    # Once a chat has the site card, its rooms stay on it, even down to one open room.
    assert on_site_card(told, {"r1"}, {a, c}) == {a, c}


def test_the_site_is_as_severe_as_its_worst_open_room_and_ends_with_the_last() -> None:
    site = Site("s1", "hall", {"site": "ams1"}, T0)
    site.rooms = {"r1": room("r1", "a"), "r2": room("r2", "b")}
    assert site.settle(T0) == (True, False) and site.severity == "warn"
    site.rooms["r2"] = room("r2", "b", "crit", 33.0)
    assert site.settle(T0) == (True, False) and site.severity == "crit"
    site.rooms["r2"] = room("r2", "b", None, is_open=False)
    assert site.settle(T0) == (False, False) and site.severity == "warn" and site.open
    site.rooms["r1"] = room("r1", "a", None, is_open=False)
    assert site.settle(T0 + timedelta(minutes=5)) == (False, True)
    assert not site.open and site.ended_at == T0 + timedelta(minutes=5)


def test_rooms_are_listed_open_first_worst_first() -> None:
    site = Site("s1", "hall", {"site": "ams1"}, T0, rooms={
        "r1": room("r1", "a", "warn", 28.0), "r2": room("r2", "b", "crit", 33.0),
        "r3": room("r3", "c", None, is_open=False), "r4": room("r4", "d", "warn", 29.0)})
    assert [r.label for r in site.shown()] == ["b", "d", "a", "c"]
    assert [r.label for r in site.shown({"r1", "r3"})] == ["a", "c"]


def test_the_common_cause_is_the_one_most_rooms_share() -> None:
    rooms = [room("r1", "a", hint="fast rise in 6 of 8 sensors: cooling failure?"),
             room("r2", "b", hint="fast rise in 3 of 4 sensors: cooling failure?"),
             room("r3", "c", hint="fast rise in 1 of 8 sensors: a local hot spot?"),
             room("r4", "d")]
    assert common_hint(rooms) == ("cooling failure? in 2 of 4 rooms (a: fast rise in 6 of 8 "
                                  "sensors)")
    assert common_hint([room("r4", "d")]) == ""


def test_a_room_line_is_read_from_the_incident_document() -> None:
    document = {"series": {"site": "ams1", "room": "dc1-a"}, "severity": "crit", "unit": "°C",
                "counts": {"crit": 3, "warn": 5, "no_data": 0, "ok": 1},
                "hottest": [{"label": "rack-7", "value": 34.2}],
                "hint": "fast rise in 6 of 8 sensors: cooling failure?"}
    incident = IncidentSnapshot.from_json(document)
    line = room_line("r1", incident, {"site": "ams1"}, True)
    assert (line.label, line.severity, line.crit, line.warn, line.hottest, line.value) == (
        "dc1-a", "crit", 3, 5, "rack-7", 34.2)
    assert RoomLine.from_json("r1", line.to_json()) == line
    ended = room_line("r1", incident, {"site": "ams1"}, False)
    assert not ended.open and ended.severity is None and ended.hint == ""


def test_a_site_document_round_trips_and_is_never_an_open_alert() -> None:
    site = Site("s1", "hall", {"site": "ams1"}, T0, description="Hall air",
                rooms={"r1": room("r1", "a")})
    site.settle(T0)
    document = site.document()
    assert document["key"] == site_group_key({"site": "ams1"})
    stored = IncidentSnapshot.loads(site.dumps())
    assert is_site(stored)
    again = Site.from_record("s1", stored, {"r1": json.dumps(site.rooms["r1"].to_json())})
    assert again.document() == document
    assert not AlertRecord("s1", "hall", stored).open  # no escalation job


def test_the_site_card_names_every_room_it_shows_and_keeps_outside_text_literal() -> None:
    site = Site("s1", "hall", {"site": "ams1"}, T0, rooms={
        f"r{n}": room(f"r{n}", f"dc1-{n:02}", "crit" if n < 3 else "warn", 30.0 + n)
        for n in range(20)})
    site.rooms["r19"] = room("r19", "**bold** [x](http://e.test)", "warn")
    site.settle(T0)
    record = AlertRecord("s1", "hall", IncidentSnapshot.loads(site.dumps()))
    card = site_card(record, site, None, None, T0 + timedelta(minutes=3))
    text = str(card)
    assert all(f"dc1-{n:02}" in text for n in range(19))
    assert "**bold**" not in text and "](http" not in text
    assert card["body"][0]["style"] == "attention"
    assert "CRITICAL: 20 rooms in trouble at site ams1" in text
    shown = site_card(record, site, {"r1", "r2"}, None, T0)
    assert "dc1-05" not in str(shown) and "2 rooms in trouble" in str(shown)


@pytest.mark.parametrize(("keys", "problem"), [
    ('site_by = ["site", "room"]', "not all"),
    ('site_by = ["hall"]', "not all"),
    ('site_by = "site"', "expected a list of tags"),
    ("site_by = []", "expected a list of tags"),
])
def test_site_by_must_be_some_of_the_incident_tags(keys: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_rules(RULE + keys)


def test_site_by_names_the_site_of_each_series() -> None:
    [rule] = parse_rules(RULE + 'site_by = ["site"]')
    assert rule.site_group({"site": "ams1", "room": "a", "sensor": "s"}) == {"site": "ams1"}
    [plain] = parse_rules(RULE)
    assert plain.site_group({"site": "ams1"}) is None


def test_the_common_hint_names_its_example_room_as_text() -> None:
    hint = common_hint([room("r1", "[x](http://e.test) **a**", hint="fast rise in 3 of 4 "
                             "sensors: cooling failure?"),
                        room("r2", "b", hint="fast rise in 4 of 4 sensors: cooling failure?")])
    assert hint.startswith("cooling failure? in 2 of 2 rooms (")
    assert "](http" not in hint and "**a**" not in hint


def test_one_escalation_note_names_the_rooms_of_a_site_and_counts_the_rest() -> None:
    rooms = {f"r{n}": room(f"r{n}", f"dc1-{n:02}", "crit", 33.0) for n in range(1, 8)}
    rooms["r9"] = room("r9", "**bold** <at>x</at>", "crit", 33.0)
    site = Site("s1", "hall", {"site": "ams1"}, T0, rooms=rooms)
    text = site_escalation_text(site, ["r1", "r2"], 660.0, ["Alex Wilber"])
    assert text == ("Escalated: nobody acknowledged **hall** at site ams1, 2 rooms critical "
                    "(dc1-01, dc1-02), for 11 min; told: Alex Wilber.")
    text = site_escalation_text(site, [*rooms], 660.0, [])
    assert "8 rooms critical (dc1-01, dc1-02, dc1-03, dc1-04, dc1-05 and 3 more)" in text
    assert text.endswith("told: nobody reachable.")
    odd = site_escalation_text(site, ["r9"], 60.0, [])
    assert "1 room critical (" in odd and "**bold**" not in odd and "<at>" not in odd


def test_a_room_let_go_without_data_is_not_said_to_be_back_to_normal() -> None:
    gone = RoomLine("r2", "dc1-b", False, forgotten=True)
    site = Site("s1", "hall", {"site": "ams1"}, T0, rooms={
        "r1": room("r1", "dc1-a", None, is_open=False), "r2": gone})
    site.settle(T0 + timedelta(days=7))
    assert site_resolved_text(site) == ("Resolved: **hall** at site ams1: 1 back to normal, "
                                        "1 no longer watched (no data).")
    card = site_card(AlertRecord("s1", "hall", IncidentSnapshot.from_json(
        json.loads(site.dumps()))), site, None, None, T0 + timedelta(days=7))
    text = json.dumps(card)
    assert "no longer watched (no data)" in text and "dc1-b" in text
    assert RoomLine.from_json("r2", gone.to_json()) == gone
