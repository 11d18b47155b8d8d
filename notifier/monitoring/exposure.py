"""The exposure report: per room, how long the air was outside the envelope, from InfluxDB's
history (so it is true for times HeatWatch was down too), with the worst excursions, the
incidents that told people about them, and how fast people acknowledged and resolved.

Decisions where the issue was silent:

- The envelope is each rule's: "outside recommended" is a step at warning or worse (past any
  threshold of the rule), "outside allowable" a step past a `crit_*` threshold. With the ASHRAE
  numbers as thresholds (warn = recommended, crit = allowable; see `moisture.ASHRAE_MOISTURE`
  and docs/rules.md) that is ASHRAE's envelope; a rule with only warnings has no allowable minutes.
  No hysteresis and no `for`: the report is about the air, not about the alerts.
- A room (an incident group of a rule) is outside during a step when any of its series' mean
  is. Minutes are counted in steps of the query's resolution: one minute up to 7 days, coarser
  beyond (`step_for`), so every query stays at most `MAX_STEPS` points per series.
- Rate of change (temperature rules: unit °C, not a dew point): a step counts when a series
  changed by more than 5 °C since 15 minutes before, or more than 20 °C since an hour before
  (ASHRAE TC 9.9 Thermal Guidelines, 5th ed. 2021, reference card note on rate of change).
- An incident's severity, for MTTA and time to resolve, is the highest its peak reached by the
  rule's thresholds (the stored incident keeps its peak, not its worst level). Incidents opened
  in the window count; MTTA over the acknowledged ones, time to resolve over the ended ones
  (not those that ended because their series was forgotten: let go, not resolved).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from common.clock import utcnow
from notifier.alerts.events import INFLUXDB, EventKind, series_key
from notifier.alerts.record import AlertRecord
from notifier.alerts.store import AlertStore
from notifier.monitoring.engine import Reading
from notifier.monitoring.rules import Rule
from notifier.monitoring.sources import SourceError, TemperatureSource

log = logging.getLogger(__name__)

MAX_STEPS = 7 * 24 * 60  # points per series and query: a week of minutes
WORST = 10  # excursions listed
RATE_LIMITS = ((15 * 60, 5.0), (60 * 60, 20.0))  # (seconds, °C): ASHRAE 2021, see above
RECOMMENDED, ALLOWABLE = "recommended", "allowable"


def step_for(seconds: float) -> int:
    """The report's resolution for a window of `seconds`: whole minutes, at least one."""
    return 60 * max(1, math.ceil(seconds / 60 / MAX_STEPS))


def level(rule: Rule, value: float) -> str | None:
    """Where a value is: ALLOWABLE (past a crit threshold, so outside both envelopes),
    RECOMMENDED (past a warn threshold only), or None (inside)."""
    if (rule.crit_above is not None and value >= rule.crit_above) or (
            rule.crit_below is not None and value <= rule.crit_below):
        return ALLOWABLE
    if (rule.warn_above is not None and value >= rule.warn_above) or (
            rule.warn_below is not None and value <= rule.warn_below):
        return RECOMMENDED
    return None


def _excess(rule: Rule, value: float) -> float:
    """How far past its nearest threshold (to rank excursions)."""
    above = [value - t for t in (rule.warn_above, rule.crit_above) if t is not None]
    below = [t - value for t in (rule.warn_below, rule.crit_below) if t is not None]
    return max(above + below, default=0.0)


def rated(rule: Rule) -> bool:
    """Whether the rate-of-change limits apply: a dry-bulb temperature rule."""
    return rule.dew_point is None and rule.unit.strip() == "°C"


@dataclass(frozen=True)
class Excursion:
    """One stretch of a room outside the recommended envelope of a rule."""

    rule: str
    room: str
    start: datetime
    end: datetime
    peak: float
    unit: str
    allowable: bool  # it also left the allowable envelope
    excess: float
    incidents: tuple[tuple[str, str | None], ...] = ()  # (alert id, acknowledged by)

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60


@dataclass(frozen=True)
class RoomExposure:
    rule: str
    room: str
    group_key: str
    unit: str
    recommended: float  # minutes outside the recommended envelope
    allowable: float  # minutes outside the allowable envelope
    rate: float | None  # minutes past the rate-of-change limits; None: not a temperature rule
    covered: float  # minutes with data
    steps: frozenset[datetime] = field(default=frozenset(), repr=False)  # outside recommended


@dataclass(frozen=True)
class ResponseTimes:
    severity: str
    incidents: int
    acknowledged: int
    mtta: float | None  # seconds
    resolved: int
    time_to_resolve: float | None  # seconds


@dataclass
class ExposureReport:
    start: datetime
    end: datetime
    step: int
    rooms: list[RoomExposure] = field(default_factory=list)
    worst: list[Excursion] = field(default_factory=list)
    responses: list[ResponseTimes] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # rules whose history could not be read

    def minutes_by_room(self) -> dict[str, float]:
        """Minutes a room was outside the recommended envelope of any of its rules (the
        chart): a minute hot and humid at once counts once."""
        steps: dict[str, set[datetime]] = {}
        for row in self.rooms:
            steps.setdefault(row.room, set()).update(row.steps)
        return {room: len(found) * self.step / 60 for room, found in steps.items()}


def room_label(group: dict[str, str]) -> str:
    return ", ".join(value for _, value in sorted(group.items())) or "-"


def count_exposure(rule: Rule, readings: Iterable[Reading], step: int,
                   ) -> tuple[list[RoomExposure], list[Excursion]]:
    """Minutes outside the envelope per room and the excursions, from step means."""
    by_room: dict[str, tuple[dict[str, str], list[Reading]]] = {}
    low, high = rule.plausible or (-math.inf, math.inf)
    for reading in readings:
        if not low <= reading.value <= high:
            continue  # a probe's fault (`plausible`, monitoring/probes.py), not the room's air
        group = rule.incident_group(reading.tags)
        by_room.setdefault(series_key(group), (group, []))[1].append(reading)
    rows: list[RoomExposure] = []
    excursions: list[Excursion] = []
    for key, (group, members) in sorted(by_room.items()):
        label = room_label(group)
        outside: dict[datetime, tuple[bool, float, float]] = {}  # step: allowable, peak, excess
        covered: set[datetime] = set()
        for reading in members:
            covered.add(reading.time)
            where = level(rule, reading.value)
            if where is None:
                continue
            excess = _excess(rule, reading.value)
            before = outside.get(reading.time)
            if before is None or excess > before[2]:
                outside[reading.time] = (where == ALLOWABLE or bool(before and before[0]),
                                         reading.value, excess)
            elif where == ALLOWABLE:
                outside[reading.time] = (True, before[1], before[2])
        rate_steps = _rate_steps(members) if rated(rule) else None
        rows.append(RoomExposure(
            rule=rule.name, room=label, group_key=key, unit=rule.unit,
            recommended=len(outside) * step / 60,
            allowable=sum(allowable for allowable, _, _ in outside.values()) * step / 60,
            rate=None if rate_steps is None else len(rate_steps) * step / 60,
            covered=len(covered) * step / 60, steps=frozenset(outside)))
        excursions += _runs(rule, label, outside, step)
    return rows, excursions


def _rate_steps(members: list[Reading]) -> set[datetime]:
    series: dict[str, dict[datetime, float]] = {}
    for reading in members:
        series.setdefault(reading.key, {})[reading.time] = reading.value
    steps: set[datetime] = set()
    for values in series.values():
        for at, value in values.items():
            for seconds, limit in RATE_LIMITS:
                earlier = values.get(at - timedelta(seconds=seconds))
                if earlier is not None and abs(value - earlier) > limit:
                    steps.add(at)
    return steps


def _runs(rule: Rule, room: str, outside: dict[datetime, tuple[bool, float, float]],
          step: int) -> list[Excursion]:
    """Consecutive outside steps as excursions."""
    delta = timedelta(seconds=step)
    stretches: list[list[datetime]] = []
    for at in sorted(outside):
        if stretches and at - stretches[-1][-1] == delta:
            stretches[-1].append(at)
        else:
            stretches.append([at])
    runs: list[Excursion] = []
    for steps in stretches:
        worst = max(steps, key=lambda t: outside[t][2])
        runs.append(Excursion(rule=rule.name, room=room, start=steps[0], end=steps[-1] + delta,
                              peak=outside[worst][1], unit=rule.unit, excess=outside[worst][2],
                              allowable=any(outside[t][0] for t in steps)))
    return runs


def _incidents_of(excursion: Excursion, group_key: str, records: list[AlertRecord],
                  now: datetime) -> tuple[tuple[str, str | None], ...]:
    found = []
    for record in records:
        event = record.incident
        since = event.since
        ended = event.ended_at or now
        if record.rule == excursion.rule and event.key == group_key and \
                since is not None and since < excursion.end and ended >= excursion.start:
            found.append((record.alert_id, record.acknowledged_by))
    return tuple(found)


def incident_severity(rules: dict[str, Rule], record: AlertRecord) -> str:
    """The worst level an incident reached, by its peak and its rule's thresholds."""
    event = record.incident
    rule, peak = rules.get(record.rule), event.peak
    if rule is not None and peak is not None:
        return "crit" if level(rule, peak) == ALLOWABLE else "warn"
    return event.severity.value if event.severity else "warn"


def response_times(rules: dict[str, Rule], records: list[AlertRecord],
                   start: datetime) -> list[ResponseTimes]:
    """MTTA and time to resolve per severity, of the incidents opened since `start`."""
    table: dict[str, tuple[list[float], list[float], int]] = {}
    for record in records:
        since = record.incident.since
        if since is None or since < start:
            continue
        acks, ends, count = table.get(incident_severity(rules, record), ([], [], 0))
        if record.acknowledged_at is not None:
            acks.append((record.acknowledged_at - since).total_seconds())
        ended = record.incident.ended_at
        # A forgotten series (no data for `forget_after`) was let go, not resolved.
        if ended is not None and record.incident.kind is not EventKind.FORGOTTEN:
            ends.append((ended - since).total_seconds())
        table[incident_severity(rules, record)] = (acks, ends, count + 1)
    return [ResponseTimes(severity=severity, incidents=count, acknowledged=len(acks),
                          mtta=sum(acks) / len(acks) if acks else None, resolved=len(ends),
                          time_to_resolve=sum(ends) / len(ends) if ends else None)
            for severity, (acks, ends, count) in sorted(table.items())]


async def read_exposure(source: TemperatureSource, rules: list[Rule], alerts: AlertStore,
                        seconds: int, now: datetime, room: str | None = None) -> ExposureReport:
    """The report over the last `seconds`: per rule one query listing its rooms (one point
    per series), then one downsampled query per rule and room. A rule whose query fails is
    named in `failures`; the others are reported."""
    step = step_for(seconds)
    report = ExposureReport(start=now - timedelta(seconds=seconds), end=now, step=step)
    records = [r for r in await alerts.incidents_since(report.start, INFLUXDB)
               if r.incident.kind is not EventKind.TEST]
    excursions: list[Excursion] = []
    for rule in rules:
        try:
            seen = await source.history(rule, [], seconds, seconds)
            groups = {series_key(g): g for g in (rule.incident_group(r.tags) for r in seen)}
            for key, group in sorted(groups.items()):
                if room is not None and room.lower() not in (
                        room_label(group).lower(), *(v.lower() for v in group.values())):
                    continue
                readings = await source.history(rule, [group] if group else [], seconds, step)
                rows, found = count_exposure(rule, readings, step)
                report.rooms += rows
                excursions += [replace(e, incidents=_incidents_of(e, key, records, now))
                               for e in found]
        except SourceError as error:  # the other rules are still reported
            log.warning("Exposure report: the history of rule %r could not be read: %s",
                        rule.name, error)
            report.failures.append(f"{rule.name}: {error}")
    excursions.sort(key=lambda e: (e.allowable, e.minutes, e.excess), reverse=True)
    report.worst = excursions[:WORST]
    report.responses = response_times({r.name: r for r in rules}, records, report.start)
    return report


def exposure_reader(source: TemperatureSource, rules: list[Rule], alerts: AlertStore,
                    ) -> Callable[[int, str | None], Awaitable[ExposureReport]]:
    """What chat's `report` reads: the report over the last seconds (of one room), for the
    live rules list (kept current by a rules reload)."""
    async def read(seconds: int, room: str | None) -> ExposureReport:
        return await read_exposure(source, list(rules), alerts, seconds, utcnow(), room)

    return read
