"""Probe faults: readings that are the probe's doing, not the room's. They page nobody.

Per rule, per poll, before the state machine sees the readings (`ProbeJudge.judge`):

- *implausible*: a reading outside the rule's `plausible` range (default -20..80 for °C: no
  server room air, a broken or unplugged probe) is a fault while it lasts.
- *jump*: a reading that jumps toward trouble (up; down for a rule with only `below`
  thresholds: only such a jump could page; one away from trouble is judged at once, so a
  recovery never waits) from the series' last one by more than a step
  (`trend.STEP_MIN` + `trend.STEP_RATE` per minute between them) while its neighbours (the
  other series of its incident group, the room, that reported this poll; a series without
  any is judged at once) did not move half as far the same way, is held
  for one reading: the next reading either confirms it (within half a step of it, or beyond it:
  it is real, and is judged as always, one poll late) or does not (the jump was the probe's: a
  fault, never paged).
  A jump the neighbours show too is heat, judged at once. So a single hot sensor whose
  readings persist still pages.
- *stuck*: a series exactly constant for `stuck_after` while another series of its group moved
  meanwhile. Flagged, and still judged (a stuck probe cannot say the room is fine, but its
  readings are all there is).

Held and implausible readings reach the state machine as faults (`step(fault=True)`): they
count as data (no no-data alert) but never change the series' level. Kept in memory: after a
restart, judgement starts again from the next readings.

`ProbeNotices` decides what a rule's `probe_faults_to` targets are told (decisions where issue
#26 was silent): faults that last (*implausible*, *stuck*: a probe to fix or replace) are told
once when they begin, and their end once the probe has read well for `RECOVERY_HOLD` (a probe
that flaps between good and bad readings is one fault, not a message per poll). A held *jump*
is not told: it is settled by the very next reading (heat, judged as always, or a glitch,
logged and counted). The planner gathers the notices of one room in one poll into one text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from statistics import median

from notifier.alerts.events import AlertEvent, EventKind, make_alert_id, series_key
from notifier.monitoring.engine import Reading
from notifier.monitoring.rules import Rule
from notifier.monitoring.trend import STEP_MIN, STEP_RATE

log = logging.getLogger(__name__)


class FaultKind(StrEnum):
    IMPLAUSIBLE = "implausible"
    JUMP = "jump"
    STUCK = "stuck"


@dataclass(frozen=True)
class ProbeFault:
    rule: str
    key: str
    tags: dict[str, str]
    group: dict[str, str]
    kind: FaultKind
    since: datetime
    value: float
    detail: str  # e.g. "reads 85 °C, outside -20..80 °C"


@dataclass
class _Probe:
    value: float | None = None  # the last reading judged good
    time: datetime | None = None  # of the last reading seen
    changed_at: datetime | None = None  # when its value last changed
    held: float | None = None  # a jump waiting for the next reading


@dataclass
class ProbeJudge:
    """Remembers each series' last good reading and its current fault, by (rule, key)."""

    _probes: dict[tuple[str, str], _Probe] = field(default_factory=dict)
    faults: dict[tuple[str, str], ProbeFault] = field(default_factory=dict)
    glitches: int = 0  # jumps that did not come back: probe faults since start

    def judge(self, rule: Rule, readings: list[Reading]) -> set[str]:
        """The keys of `readings` that are probe faults this poll (held or implausible)."""
        faulty: set[str] = set()
        moves: dict[str, list[tuple[str, float]]] = {}  # group key -> (series key, change)
        fresh: list[tuple[Reading, _Probe]] = []
        for reading in readings:
            probe = self._probes.setdefault((rule.name, reading.key), _Probe())
            if probe.time is not None and reading.time <= probe.time:
                if (rule.name, reading.key) in self.faults and \
                        self.faults[(rule.name, reading.key)].kind is not FaultKind.STUCK:
                    faulty.add(reading.key)  # the same faulty reading again
                continue
            fresh.append((reading, probe))
            if probe.value is not None and self._plausible(rule, reading.value):
                group = series_key(rule.incident_group(reading.tags))
                moves.setdefault(group, []).append((reading.key, reading.value - probe.value))
        for reading, probe in fresh:
            if self._judge_one(rule, reading, probe, moves):
                faulty.add(reading.key)
        self._stuck(rule, [reading for reading, _ in fresh])
        return faulty

    def _plausible(self, rule: Rule, value: float) -> bool:
        return rule.plausible is None or rule.plausible[0] <= value <= rule.plausible[1]

    def _judge_one(self, rule: Rule, reading: Reading, probe: _Probe,
                   moves: dict[str, list[tuple[str, float]]]) -> bool:
        key = (rule.name, reading.key)
        previous_time, probe.time = probe.time, reading.time
        value = reading.value
        if not self._plausible(rule, value):
            assert rule.plausible is not None
            low, high = rule.plausible
            self._fault(rule, reading, FaultKind.IMPLAUSIBLE,
                        f"reads {value:g} {rule.unit}, outside {low:g}..{high:g} {rule.unit}")
            probe.held = None
            return True
        if probe.value is None or previous_time is None:
            self._good(key, probe, value, reading.time)
            return False
        if probe.held is not None:
            limit = self._step(previous_time, reading.time)
            held, probe.held = probe.held, None
            jump, now_off = held - probe.value, value - probe.value
            # Confirmed: the next reading stays near the jump, or goes on beyond it (a fast
            # rise whose every reading jumps must not be held forever).
            if abs(value - held) < limit / 2 or (
                    jump * now_off > 0 and abs(now_off) >= abs(jump) - limit / 2):
                self._good(key, probe, value, reading.time)
                return False
            if abs(value - probe.value) < limit:  # back: the jump was the probe's
                self.glitches += 1
                fault = self.faults.get(key)
                log.warning("Probe fault, rule %r, %s: jumped to %g %s and back, not paged",
                            rule.name, reading.key.replace("\x1f", ", "), held, rule.unit)
                if fault is not None and fault.kind is FaultKind.JUMP:
                    del self.faults[key]
                self._good(key, probe, value, reading.time)
                return False
        change = value - probe.value
        limit = self._step(previous_time, reading.time)
        toward_trouble = change < 0 if rule.below_only else change > 0
        if abs(change) >= limit and toward_trouble:
            group = series_key(rule.incident_group(reading.tags))
            others = [c for k, c in moves.get(group, []) if k != reading.key]
            # Without neighbours reporting this poll there is no evidence against the room:
            # judged at once (`for` is the tool for a lone sensor).
            shared = not others or (median(others) * change > 0
                                    and abs(median(others)) >= abs(change) / 2)
            if not shared:
                probe.held = value
                self._fault(rule, reading, FaultKind.JUMP,
                            f"jumped {change:+.1f} {rule.unit} to {value:g} {rule.unit}, "
                            "not seen by its neighbours; waiting for the next reading")
                return True
        self._good(key, probe, value, reading.time)
        return False

    @staticmethod
    def _step(before: datetime, after: datetime) -> float:
        return STEP_MIN + STEP_RATE * max(0.0, (after - before).total_seconds()) / 60

    def _good(self, key: tuple[str, str], probe: _Probe, value: float, at: datetime) -> None:
        if probe.value is None or value != probe.value:
            probe.changed_at = at
        probe.value = value
        fault = self.faults.get(key)
        if fault is not None and fault.kind is not FaultKind.STUCK:
            log.info("Probe %s of rule %r reads plausibly again (%g)",
                     key[1].replace("\x1f", ", "), key[0], value)
            del self.faults[key]

    def _fault(self, rule: Rule, reading: Reading, kind: FaultKind, detail: str,
               began: datetime | None = None) -> None:
        key = (rule.name, reading.key)
        current = self.faults.get(key)
        if current is None or current.kind is not kind:
            log.warning("Probe fault, rule %r, %s: %s (not paged)", rule.name,
                        reading.key.replace("\x1f", ", "), detail)
        since = current.since if current is not None and current.kind is kind else \
            began or reading.time
        self.faults[key] = ProbeFault(rule.name, reading.key, dict(reading.tags),
                                      rule.incident_group(reading.tags), kind, since,
                                      reading.value, detail)

    def _stuck(self, rule: Rule, readings: list[Reading]) -> None:
        """Flag series constant for `stuck_after` while a neighbour moved; clear on change."""
        if rule.stuck_after <= 0:
            return
        by_group: dict[str, list[Reading]] = {}
        for reading in readings:
            by_group.setdefault(series_key(rule.incident_group(reading.tags)), []).append(reading)
        for members in by_group.values():
            changes = {r.key: self._probes[(rule.name, r.key)].changed_at for r in members}
            for reading in members:
                key = (rule.name, reading.key)
                since = changes[reading.key]
                fault = self.faults.get(key)
                stuck = since is not None and \
                    (reading.time - since).total_seconds() >= rule.stuck_after and any(
                        other is not None and other > since
                        for k, other in changes.items() if k != reading.key)
                if stuck and fault is None:
                    assert since is not None
                    minutes = (reading.time - since).total_seconds() / 60
                    self._fault(rule, reading, FaultKind.STUCK,
                                f"stuck at {reading.value:g} {rule.unit} for {minutes:.0f} min "
                                "while its neighbours moved", began=since)
                elif not stuck and fault is not None and fault.kind is FaultKind.STUCK:
                    del self.faults[key]

    def keep_rules(self, names: set[str]) -> None:
        self._probes = {k: v for k, v in self._probes.items() if k[0] in names}
        self.faults = {k: v for k, v in self.faults.items() if k[0] in names}

    def forget(self, rule: str, key: str) -> None:
        """Forget one series (no data for its rule's `forget_after`)."""
        self._probes.pop((rule, key), None)
        self.faults.pop((rule, key), None)


TOLD_KINDS = frozenset({FaultKind.IMPLAUSIBLE, FaultKind.STUCK})  # faults that last
RECOVERY_HOLD = timedelta(minutes=5)  # good readings this long before a fault's end is told


@dataclass
class _Told:
    fault: ProbeFault  # as it was told
    good_since: datetime | None = None  # reading well since (its end not told yet)


@dataclass
class ProbeNotices:
    """What a rule's `probe_faults_to` is told: a lasting fault when it begins, its end after
    `RECOVERY_HOLD` of good readings. Kept in memory, like the faults: after a restart a fault
    still there is found, and told, again."""

    _told: dict[tuple[str, str], _Told] = field(default_factory=dict)

    def notices(self, rule: Rule, faults: dict[tuple[str, str], ProbeFault], seen: set[str],
                now: datetime) -> list[AlertEvent]:
        """The `probe-notice` events of `rule` this poll (`seen`: the series that reported)."""
        if not rule.probe_faults_to:
            self._told = {k: v for k, v in self._told.items() if k[0] != rule.name}
            return []
        out: list[AlertEvent] = []
        for key, fault in faults.items():
            if key[0] != rule.name or fault.kind not in TOLD_KINDS:
                continue
            told = self._told.get(key)
            if told is not None and told.fault.kind is fault.kind:
                told.good_since = None  # at fault again within the hold: the same fault
                continue
            self._told[key] = _Told(fault)
            out.append(self._event(rule, fault, fault.detail, now))
        for key, told in list(self._told.items()):
            now_fault = faults.get(key)
            if key[0] != rule.name or (now_fault is not None and now_fault.kind in TOLD_KINDS):
                continue
            if key[1] not in seen:  # not reporting: nothing says the probe is well
                continue
            told.good_since = told.good_since or now
            if now - told.good_since >= RECOVERY_HOLD:
                del self._told[key]
                out.append(self._event(rule, told.fault, "", now))
        return out

    @staticmethod
    def _event(rule: Rule, fault: ProbeFault, detail: str, now: datetime) -> AlertEvent:
        """A fault (`detail`) or its end (no detail), since `fault.since`."""
        return AlertEvent(kind=EventKind.PROBE_NOTICE, rule=rule.name, at=now,
                          alert_id=make_alert_id(rule.name, fault.key, fault.since),
                          series=dict(fault.tags), group=dict(fault.group), unit=rule.unit,
                          since=fault.since, value=fault.value, detail=detail)

    def keep_rules(self, names: set[str]) -> None:
        self._told = {k: v for k, v in self._told.items() if k[0] in names}

    def forget(self, rule: str, key: str) -> None:
        """Forget one series: its fault's end is never told (its incident says it is no
        longer watched)."""
        self._told.pop((rule, key), None)
