"""On-call schedules: rotations in local time (across daylight saving), office hours with an
after-hours schedule, overrides, `oncall:` targets, and every problem in a schedule table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.errors import ConfigError
from notifier.alerts.events import AlertEvent
from notifier.alerts.routing import Escalation
from notifier.alerts.schedules import OnCallRouting, Schedules, parse_schedules
from notifier.monitoring.rules import parse_rules

ROTATION = """
[[schedule]]
name = "dc"
time_zone = "Europe/Amsterdam"
people = ["ann", "bob", "cat"]
names = { ann = "Ann Lee", bob = "Bob Roy" }
handoff = "09:00"
rotation = "weekly"
start = "2026-10-19"
"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def schedules(text: str) -> Schedules:
    return Schedules(parse_schedules(text))


def test_a_weekly_rotation_hands_off_at_the_local_time() -> None:
    dc = schedules(ROTATION)
    # Monday 2026-10-19 09:00 in Amsterdam (CEST, UTC+2) is 07:00 UTC.
    assert dc.person("dc", at("2026-10-19T06:59:59+00:00")) == "cat"  # the turn before
    assert dc.person("dc", at("2026-10-19T07:00:00+00:00")) == "ann"
    assert dc.person("dc", at("2026-10-26T07:59:59+00:00")) == "ann"
    # Daylight saving ended on 2026-10-25: 09:00 local is now 08:00 UTC.
    assert dc.person("dc", at("2026-10-26T08:00:00+00:00")) == "bob"
    assert dc.person("dc", at("2026-11-02T08:00:00+00:00")) == "cat"
    assert dc.person("dc", at("2026-11-09T08:00:00+00:00")) == "ann"  # round again


def test_a_shift_says_until_when_and_who_is_next() -> None:
    shift = schedules(ROTATION).shift("dc", at("2026-10-28T12:00:00+00:00"))
    assert (shift.person, shift.next_person) == ("bob", "cat")
    assert shift.until == at("2026-11-02T08:00:00+00:00")


def test_a_daily_rotation_and_a_duration_rotation() -> None:
    daily = schedules(ROTATION.replace('"weekly"', '"daily"'))
    assert [daily.person("dc", at(f"2026-10-2{d}T10:00:00+00:00")) for d in range(5)] == [
        "bob", "cat", "ann", "bob", "cat"]
    twelve = schedules(ROTATION.replace('"weekly"', '"12h"').replace(
        'time_zone = "Europe/Amsterdam"', 'time_zone = "UTC"'))
    assert twelve.person("dc", at("2026-10-19T09:00:00+00:00")) == "ann"
    assert twelve.person("dc", at("2026-10-19T21:00:00+00:00")) == "bob"
    assert twelve.person("dc", at("2026-10-20T08:59:00+00:00")) == "bob"
    assert twelve.person("dc", at("2026-10-20T09:00:00+00:00")) == "cat"


OFFICE = ROTATION + """
office_hours = { days = ["mon", "tue", "wed", "thu", "fri"], from = "09:00", to = "17:00" }
after_hours = "nights"

[[schedule]]
name = "nights"
time_zone = "Europe/Amsterdam"
people = ["nia", "ned"]
rotation = "daily"
handoff = "17:00"
start = "2026-10-19"
"""


def test_office_hours_hand_over_to_the_after_hours_schedule() -> None:
    dc = schedules(OFFICE)
    wednesday_noon = at("2026-10-21T10:00:00+00:00")  # 12:00 CEST
    assert dc.person("dc", wednesday_noon) == "ann"
    evening = dc.shift("dc", at("2026-10-21T18:00:00+00:00"))  # 20:00 CEST
    assert (evening.person, evening.via) == ("nia", "nights")  # turn 2 of two people
    assert evening.until == at("2026-10-22T07:00:00+00:00")  # office hours start at 09:00
    saturday = dc.shift("dc", at("2026-10-24T10:00:00+00:00"))
    assert saturday.via == "nights" and saturday.person in ("nia", "ned")
    day = dc.shift("dc", wednesday_noon)
    assert day.until == at("2026-10-21T15:00:00+00:00")  # office hours end at 17:00 CEST


def test_office_hours_without_an_after_hours_schedule_leave_nobody_on_call() -> None:
    dc = schedules(ROTATION + '\noffice_hours = { from = "09:00", to = "17:00" }\n')
    assert dc.person("dc", at("2026-10-21T20:00:00+00:00")) is None
    assert dc.expand(("oncall:dc", "team:T1"), at("2026-10-21T20:00:00+00:00")) == ("team:T1",)


def test_overrides_win_newest_first_and_end_when_they_say() -> None:
    dc = schedules(ROTATION + """
overrides = [
  { person = "zed", from = "2026-10-20T18:00", to = "2026-10-23T09:00" },
  { person = "yan", from = 2026-10-21T00:00:00, to = 2026-10-21T12:00:00 },
]
""")
    assert dc.person("dc", at("2026-10-20T15:00:00+00:00")) == "ann"
    assert dc.shift("dc", at("2026-10-20T17:00:00+00:00")).override  # 19:00 CEST
    assert dc.person("dc", at("2026-10-20T17:00:00+00:00")) == "zed"
    assert dc.person("dc", at("2026-10-21T05:00:00+00:00")) == "yan"
    assert dc.person("dc", at("2026-10-23T07:00:00+00:00")) == "ann"  # 09:00 CEST: over
    assert "zed" in dc.people() and "yan" in dc.people()


def test_live_overrides_come_before_the_files() -> None:
    dc = schedules(ROTATION)
    from notifier.alerts.schedules import Override
    take = Override("bob", at("2026-10-20T00:00:00+00:00"), at("2026-10-20T02:00:00+00:00"))
    assert dc.shift("dc", at("2026-10-20T01:00:00+00:00"), [take]).person == "bob"
    assert dc.shift("dc", at("2026-10-20T03:00:00+00:00"), [take]).person == "ann"


def test_names_are_shown_where_given() -> None:
    dc = schedules(ROTATION)
    assert dc.display("ann") == "Ann Lee" and dc.display("cat") == "cat"
    assert dc.display(None) == "nobody"


def test_oncall_targets_are_resolved_when_asked() -> None:
    dc = schedules(ROTATION)
    now = [at("2026-10-20T10:00:00+00:00")]

    class Fixed:
        def targets_for(self, event: AlertEvent) -> tuple[str, ...] | None:
            return ("oncall:dc", "team:T1", "user:ann")

        def escalation_for(self, rule: str, labels: object) -> Escalation | None:
            return Escalation(600.0, ("oncall:dc",))

    routing = OnCallRouting(Fixed(), dc, lambda: now[0])
    event = AlertEvent.__new__(AlertEvent)
    assert routing.targets_for(event) == ("user:ann", "team:T1")  # no repeats
    now[0] = at("2026-10-27T10:00:00+00:00")
    assert routing.targets_for(event) == ("user:bob", "team:T1", "user:ann")
    assert routing.escalation_for("r", {}) == Escalation(600.0, ("user:bob",))


@pytest.mark.parametrize(("table", "says"), [
    ('name = "dc"\npeople = []', "key 'people'"),
    ('name = "dc"\npeople = ["a"]\ntime_zone = "Mars/Olympus"', "IANA time zone"),
    ('name = "dc"\npeople = ["a"]\ntime_zone = "Europe"', "IANA time zone"),  # a folder
    ('name = "dc"\npeople = ["a"]\nhandoff = "25:00"', 'handoff = "09:00"'),
    ('name = "dc"\npeople = ["a"]\nrotation = "fortnightly"', '"daily", "weekly"'),
    ('name = "dc"\npeople = ["a"]\nrotation = "5m"', "an hour or more"),
    ('name = "dc"\npeople = ["a"]\nafter_hours = "x"', "needs office_hours"),
    ('name = "dc"\npeople = ["a"]\noffice_hours = { from = "17:00", to = "09:00" }',
     "key 'office_hours'"),
    ('name = "dc"\npeople = ["a"]\noverrides = [{ person = "b", from = "2026-01-02" }]',
     "key 'overrides'"),
    ('name = "dc"\npeople = ["a"]\nshift = 1', "unknown key"),
    ('people = ["a"]', "key 'name'"),
])
def test_every_problem_names_the_schedule_and_the_key(table: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_schedules("[[schedule]]\n" + table + "\n", "rules.toml")
    assert says in str(raised.value) and "rules.toml" in str(raised.value)


def test_rules_and_routes_may_only_name_schedules_that_exist() -> None:
    rule = '[[rule]]\nname = "r"\nmeasurement = "t"\ncrit_above = 30.0\n'
    good = ROTATION + rule + 'targets = ["oncall:dc"]\nescalate_after = "5m"\n' \
        'escalate_to = ["oncall:dc"]\n'
    assert parse_rules(good)[0].targets == ("oncall:dc",)
    with pytest.raises(ConfigError, match="'oncall:ops' names no \\[\\[schedule\\]\\]"):
        parse_rules(rule + 'targets = ["oncall:ops"]\n')
    with pytest.raises(ConfigError, match="a \\[\\[route\\]\\]: 'oncall:ops'"):
        parse_rules(rule + '[[route]]\nmatchers = []\ntargets = ["oncall:ops"]\n')
    with pytest.raises(ConfigError, match="after_hours': no schedule is named 'nights'"):
        parse_rules(ROTATION + 'office_hours = { from = "09:00", to = "17:00" }\n'
                    'after_hours = "nights"\n' + rule)


def test_a_moment_is_any_aware_time() -> None:
    dc = schedules(ROTATION)
    local = datetime(2026, 10, 20, 12, 0, tzinfo=UTC) + timedelta(0)
    assert dc.person("dc", local) == dc.person("dc", local.astimezone())


def test_a_zone_name_that_is_a_folder_is_no_zone() -> None:
    from common.times import zone
    assert zone("Europe") is None and zone("Europe/Paris") is not None


def test_the_members_of_a_schedule_may_take_it_over() -> None:
    dc = schedules(ROTATION + 'overrides = [{ person = "Zed", from = "2026-10-20T18:00", '
                              'to = "2026-10-23T09:00" }]\n')
    assert dc.members("dc") == {"ann", "bob", "cat", "zed"}
    assert dc.members("ops") == set()
