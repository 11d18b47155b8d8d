"""What a rule's `probe_faults_to` is told of probe faults, and in what words (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifier.alerts.events import EventKind, series_key
from notifier.delivery.probenotes import notice_text
from notifier.monitoring.probes import FaultKind, ProbeFault, ProbeNotices
from notifier.monitoring.rules import parse_rules

RULE = """
[[rule]]
name = "dc-temp"
measurement = "temperature"
crit_above = 32
probe_faults_to = ["user:c33aafc4-646d-4543-9d4c-abd28e4d2110"]
"""
T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def fault(sensor: str, kind: FaultKind, detail: str, since: datetime = T0,
          room: str = "r1") -> tuple[tuple[str, str], ProbeFault]:
    tags = {"room": room, "sensor": sensor}
    key = series_key(tags)
    return ("dc-temp", key), ProbeFault("dc-temp", key, tags, {"room": room}, kind, since,
                                        85.0, detail)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_lasting_fault_is_told_once_and_its_end_after_five_good_minutes() -> None:
    [rule] = parse_rules(RULE)
    notices = ProbeNotices()
    key, bad = fault("rack-3", FaultKind.IMPLAUSIBLE, "reads 85 °C, outside -20..80 °C")
    seen = {key[1]}
    [told] = notices.notices(rule, dict([(key, bad)]), seen, at(0))
    assert (told.kind, told.detail, told.since, told.group) == (
        EventKind.PROBE_NOTICE, "reads 85 °C, outside -20..80 °C", T0, {"room": "r1"})
    assert notices.notices(rule, dict([(key, bad)]), seen, at(0.25)) == []  # told already
    # Good readings, then bad again within five minutes: one fault, nothing said.
    assert notices.notices(rule, {}, seen, at(1)) == []
    assert notices.notices(rule, dict([(key, bad)]), seen, at(2)) == []
    assert notices.notices(rule, {}, seen, at(3)) == []
    assert notices.notices(rule, {}, seen, at(7.9)) == []
    # A probe that stopped reporting is not well: nothing about it.
    assert notices.notices(rule, {}, set(), at(7.95)) == []
    [over] = notices.notices(rule, {}, seen, at(8))
    assert (over.kind, over.detail, over.since) == (EventKind.PROBE_NOTICE, "", T0)


def test_a_held_jump_is_not_told_and_a_rule_without_targets_tells_nothing() -> None:
    [rule] = parse_rules(RULE)
    [quiet] = parse_rules(RULE.replace('probe_faults_to = ["user:c33aafc4-646d-4543-9d4c-'
                                       'abd28e4d2110"]', ""))
    notices = ProbeNotices()
    jump = dict([fault("rack-3", FaultKind.JUMP, "jumped +7.0 °C to 29 °C")])
    assert notices.notices(rule, jump, {k[1] for k in jump}, at(0)) == []
    stuck = dict([fault("rack-4", FaultKind.STUCK, "stuck at 22 °C for 30 min")])
    assert notices.notices(quiet, stuck, {k[1] for k in stuck}, at(0)) == []
    [told] = notices.notices(rule, stuck, {k[1] for k in stuck}, at(0))
    assert told.detail == "stuck at 22 °C for 30 min"


def test_one_rooms_notices_are_one_text_saying_which_probe_what_fault_since_when() -> None:
    [rule] = parse_rules(RULE)
    notices = ProbeNotices()
    faults = dict([fault("rack-3", FaultKind.IMPLAUSIBLE, "reads 85 °C, outside -20..80 °C"),
                   fault("rack-*4*", FaultKind.STUCK, "stuck at 22 °C for 30 min",
                         since=at(-30))])
    told = notices.notices(rule, faults, {k[1] for k in faults}, at(0))
    text = notice_text(told)
    assert text.startswith("**Probe faults** of **dc-temp** (room r1); not paged, not an "
                           "incident:\n\n")
    assert ("- sensor rack-3: reads 85 °C, outside -20..80 °C, since 2026-12-06 10:00:00 UTC"
            in text)
    assert "since 2026-12-06 09:30:00 UTC" in text
    assert "rack-*4*" not in text  # a tag from outside is literal text, never markup
    gone = notices.notices(rule, {}, {k[1] for k in faults}, at(1))
    assert gone == []
    over = notices.notices(rule, {}, {k[1] for k in faults}, at(6))
    assert len(over) == 2
    text = notice_text(over)
    assert text.startswith("**Probe faults over** of **dc-temp**")
    assert "- sensor rack-3: reads well again (at fault since 2026-12-06 10:00:00 UTC, 6 min)" \
        in text
