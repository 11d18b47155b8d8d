"""On-call schedules: `[[schedule]]` tables in the rules file, and who is on call at a moment.

A schedule is a rotation of people (AAD object ids, as `user:` targets take them) in an IANA
time zone: the first person is on call from `start` at `handoff` (local time) for one
`rotation` (`"daily"`, `"weekly"`, or a duration such as `"12h"`), then the next, round and
round. Daily and weekly rotations follow the local calendar, so a handoff stays at 09:00
across daylight-saving changes; a rotation given as a duration is exact elapsed time.

Optional `office_hours` (days and hours, local time) restrict the schedule; outside them the
schedule named by `after_hours` answers (or nobody, when none is named). `overrides` put
another person on call for a stated stretch (a holiday swap); the newest override that covers
a moment wins. Nothing here reads a clock or a file: the caller passes the moment.

A target `oncall:<schedule>` stands for whoever is on call when an alert is planned or an
escalation step is taken (`OnCallRouting`); when nobody is (outside office hours with no
`after_hours`), the target names nobody, and an event whose targets name nobody goes to the
default audience (see `notifier/alerts/routing.py`) so that no alert is lost to a gap in a
schedule.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from common.durations import parse_duration
from common.errors import ConfigError
from notifier.alerts.events import AlertEvent
from notifier.alerts.routing import Escalation, SourceRouting, Step
from notifier.alerts.rulesfile import parse_document, read_document

SCHEDULE_KEYS = ("name", "time_zone", "people", "names", "handoff", "rotation", "start",
                 "office_hours", "after_hours", "overrides", "shifts", "scheduling_group",
                 "acts_as")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
DAY = timedelta(days=1)


@dataclass(frozen=True)
class OfficeHours:
    """When a schedule applies: these weekdays (0 = Monday), from `start` to `end` local time."""

    days: frozenset[int]
    start: time
    end: time

    def covers(self, local: datetime) -> bool:
        return local.weekday() in self.days and self.start <= local.time() < self.end


@dataclass(frozen=True)
class Override:
    """`person` is on call from `start` to `end` (aware datetimes) instead of the rotation."""

    person: str
    start: datetime
    end: datetime

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True)
class Shift:
    """Who is on call in a schedule at a moment, until when, and who comes next."""

    schedule: str
    person: str | None
    until: datetime | None  # the next handoff (or end of office hours); None: no end known
    next_person: str | None
    via: str = ""  # the schedule that answered ("" : this one), e.g. the after-hours one
    override: bool = False
    since: datetime | None = None  # when this person's stretch began (the last handoff)


@dataclass(frozen=True)
class Schedule:
    name: str
    zone: ZoneInfo
    people: tuple[str, ...]
    handoff: time = time(9, 0)
    rotation: str = "weekly"  # "daily", "weekly", or "duration"
    length: timedelta = timedelta(days=7)
    start: date = date(2026, 1, 5)  # a Monday
    office_hours: OfficeHours | None = None
    after_hours: str | None = None
    overrides: tuple[Override, ...] = ()
    names: Mapping[str, str] = field(default_factory=dict)  # person -> display name
    shifts: str | None = None  # a Teams team id: who is on shift there (Teams Shifts)
    scheduling_group: str | None = None  # only the shifts of this scheduling group
    acts_as: str | None = None  # MS-APP-ACTS-AS for Graph (a team owner's object id)

    def _anchor(self) -> datetime:
        return datetime.combine(self.start, self.handoff, self.zone)

    def _turn(self, at: datetime) -> tuple[int, datetime, datetime]:
        """The index of the turn that covers `at` (negative before `start`), its start and its
        end."""
        if self.rotation == "duration":
            anchor = self._anchor()
            turns = int((at - anchor) // self.length)
            return turns, anchor + self.length * turns, anchor + self.length * (turns + 1)
        local = at.astimezone(self.zone)
        day = local.date() - (DAY if local.time() < self.handoff else timedelta(0))
        days = (day - self.start).days
        step = 1 if self.rotation == "daily" else 7
        turns = days // step
        begin_day = self.start + timedelta(days=turns * step)
        return (turns, datetime.combine(begin_day, self.handoff, self.zone),
                datetime.combine(begin_day + timedelta(days=step), self.handoff, self.zone))

    def rotation_person(self, at: datetime) -> tuple[str, str, datetime, datetime]:
        """(on call by the rotation, next in the rotation, this turn's start, its end)."""
        turns, begin, end = self._turn(at)
        if not self.people:
            return "", "", begin, end
        return (self.people[turns % len(self.people)],
                self.people[(turns + 1) % len(self.people)], begin, end)

    def override_at(self, at: datetime) -> Override | None:
        return next((o for o in reversed(self.overrides) if o.covers(at)), None)


class Schedules:
    """The schedules of the rules file, by name; answers who is on call."""

    def __init__(self, schedules: Sequence[Schedule] = ()) -> None:
        self._live: dict[str, tuple[Override, ...]] = {}
        self._shifts: dict[str, tuple[Override, ...]] = {}
        self.update(schedules)

    def update(self, schedules: Sequence[Schedule]) -> None:
        self._by_name = {schedule.name: schedule for schedule in schedules}

    def set_shifts(self, name: str, shifts: Sequence[Override]) -> None:
        """Who is on shift in a Shifts-backed schedule (from Microsoft Graph), as stretches;
        kept until the next successful read."""
        self._shifts[name] = tuple(sorted(shifts, key=lambda o: o.start))

    def set_live(self, overrides: Mapping[str, Sequence[Override]]) -> None:
        """The overrides taken in chat, by schedule (oldest first), newer than the file's."""
        self._live = {name: tuple(found) for name, found in overrides.items()}

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Schedule]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, name: str) -> Schedule | None:
        return self._by_name.get(name)

    def shift(self, name: str, at: datetime, extra: Sequence[Override] = ()) -> Shift:
        """Who is on call in schedule `name` at `at`; `extra` are live overrides (newer than
        the file's). Unknown schedules and gaps answer nobody."""
        return self._shift(name, at, list(extra), seen=set())

    def _shift(self, name: str, at: datetime, extra: list[Override], seen: set[str]) -> Shift:
        schedule = self._by_name.get(name)
        if schedule is None or name in seen:
            return Shift(name, None, None, None)
        seen.add(name)
        extra = [*self._live.get(name, ()), *extra]
        live = next((o for o in reversed(extra) if o.covers(at)), None)
        override = live or schedule.override_at(at)
        person, next_person, since, until = schedule.rotation_person(at)
        hours = schedule.office_hours
        local = at.astimezone(schedule.zone)
        if override is not None:
            return Shift(name, override.person, override.end, person or None, override=True,
                         since=override.start)
        if schedule.shifts is not None:
            return self._from_shifts(name, at)
        if not person:
            return Shift(name, None, None, None)
        if hours is not None and not hours.covers(local):
            opens, closed = _next_office_start(hours, local), _last_office_end(hours, local)
            if schedule.after_hours:
                other = self._shift(schedule.after_hours, at, [], seen)
                return Shift(name, other.person, opens if other.until is None else
                             min(other.until, opens), other.next_person,
                             via=other.via or schedule.after_hours, override=other.override,
                             since=closed if other.since is None else max(other.since, closed))
            return Shift(name, None, opens, person)
        if hours is not None:
            until = min(until, datetime.combine(local.date(), hours.end, schedule.zone))
            since = max(since, datetime.combine(local.date(), hours.start, schedule.zone))
        return Shift(name, person, until, next_person, since=since)

    def _from_shifts(self, name: str, at: datetime) -> Shift:
        """Who is on shift at `at` in a Shifts-backed schedule (the earliest-starting of
        overlapping shifts), and who is next."""
        shifts = self._shifts.get(name, ())
        current = next((s for s in shifts if s.covers(at)), None)
        later = [s for s in shifts if s.start > at and (current is None or
                                                          s.person != current.person)]
        upcoming = later[0] if later else None
        if current is None:
            return Shift(name, None, upcoming.start if upcoming else None,
                         upcoming.person if upcoming else None)
        return Shift(name, current.person, current.end,
                     upcoming.person if upcoming else None, since=current.start)

    def person(self, name: str, at: datetime) -> str | None:
        return self.shift(name, at).person

    def people(self) -> tuple[str, ...]:
        """Everyone a schedule can put on call (rotations and overrides), once each."""
        found = [p for s in self._by_name.values() for p in s.people]
        found += [o.person for s in self._by_name.values() for o in s.overrides]
        found += [o.person for shifts in self._shifts.values() for o in shifts]
        return tuple(dict.fromkeys(found))

    def members(self, name: str) -> set[str]:
        """Who belongs to schedule `name` (its rotation, its file's overrides, its shifts), in
        lower case: who may take it over in chat."""
        schedule = self._by_name.get(name)
        if schedule is None:
            return set()
        found = [*schedule.people, *(o.person for o in schedule.overrides),
                 *(o.person for o in self._shifts.get(name, ()))]
        return {person.lower() for person in found}

    def display(self, person: str | None) -> str:
        """A person's name as the schedules give it, else their id."""
        if person is None:
            return "nobody"
        for schedule in self._by_name.values():
            if person in schedule.names:
                return schedule.names[person]
        return person

    def expand(self, targets: Sequence[str], at: datetime) -> tuple[str, ...]:
        """`targets` with each `oncall:<schedule>` replaced by `user:<who is on call>`
        (dropped when nobody is); other targets unchanged, order kept, no repeats."""
        out: list[str] = []
        for target in targets:
            kind, _, value = target.partition(":")
            if kind == "oncall":
                person = self.person(value, at)
                target = f"user:{person}" if person else ""
            if target and target not in out:
                out.append(target)
        return tuple(out)


def _next_office_start(hours: OfficeHours, local: datetime) -> datetime:
    """The next moment office hours begin after `local` (in its zone)."""
    day = local.date()
    for offset in range(8):
        candidate = datetime.combine(day + timedelta(days=offset), hours.start, local.tzinfo)
        if candidate > local and candidate.weekday() in hours.days:
            return candidate
    return local + timedelta(days=7)


def _last_office_end(hours: OfficeHours, local: datetime) -> datetime:
    """The last moment office hours ended at or before `local` (in its zone)."""
    day = local.date()
    for offset in range(8):
        candidate = datetime.combine(day - timedelta(days=offset), hours.end, local.tzinfo)
        if candidate <= local and candidate.weekday() in hours.days:
            return candidate
    return local - timedelta(days=7)


class OnCallRouting:
    """A source's routing with `oncall:<schedule>` targets resolved at the moment they are
    asked for (planning an alert, taking an escalation step). The clock is injected."""

    def __init__(self, inner: SourceRouting, schedules: Schedules,
                 clock: Callable[[], datetime]) -> None:
        self._inner = inner
        self._schedules = schedules
        self._clock = clock

    def targets_for(self, event: AlertEvent) -> tuple[str, ...] | None:
        targets = self._inner.targets_for(event)
        if not targets:
            return targets
        return self._schedules.expand(targets, self._clock())

    def escalation_for(self, rule: str, labels: Mapping[str, str]) -> Escalation | None:
        escalation = self._inner.escalation_for(rule, labels)
        if escalation is None:
            return None
        now = self._clock()
        return dataclasses.replace(
            escalation, targets=self._schedules.expand(escalation.targets, now),
            later=tuple(Step(step.after, self._schedules.expand(step.targets, now))
                        for step in escalation.later))


# --- reading [[schedule]] tables -------------------------------------------------------------


def _clock(value: Any) -> time | None:
    if not isinstance(value, str):
        return None
    found = _CLOCK.match(value.strip())
    return time(int(found.group(1)), int(found.group(2))) if found else None


def _moment(value: Any, zone: ZoneInfo) -> datetime | None:
    """A TOML datetime or an ISO text; a local one is in the schedule's zone."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time(0, 0))
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


class _Reader:
    def __init__(self, source: str, index: int, table: Mapping[str, Any]) -> None:
        name = table.get("name")
        self.label = f"{source}: schedule {name!r}" if isinstance(name, str) and name else \
            f"{source}: [[schedule]] #{index + 1}"
        self.table = table
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.label}, key {key!r}: {message}")


def _read_schedule(source: str, index: int, table: Any) -> tuple[Schedule | None, list[str]]:
    if not isinstance(table, dict):
        return None, [f"{source}: [[schedule]] #{index + 1} must be a table"]
    reader = _Reader(source, index, table)
    for key in sorted(set(table) - set(SCHEDULE_KEYS)):
        reader.problem(key, "unknown key; a schedule has " + ", ".join(SCHEDULE_KEYS))
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        reader.problem("name", 'every schedule needs a name of letters, digits, "-", "_" or '
                               '".", like name = "dc"')
        name = ""
    zone_name = table.get("time_zone", "UTC")
    try:
        zone = ZoneInfo(zone_name) if isinstance(zone_name, str) else None
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a folder: OSError
        zone = None
    if zone is None:
        reader.problem("time_zone", f"expected an IANA time zone like \"Europe/Amsterdam\", "
                                    f"got {zone_name!r}")
        zone = ZoneInfo("UTC")
    shifts = table.get("shifts")
    if shifts is not None and (not isinstance(shifts, str) or not shifts.strip()):
        reader.problem("shifts", 'expected the id of the team whose Teams Shifts schedule '
                                 'says who is on call, like shifts = "<team id>"')
        shifts = None
    optional: dict[str, str | None] = {}
    for key in ("scheduling_group", "acts_as"):
        value = table.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            reader.problem(key, "expected an id (text)")
            value = None
        if value is not None and shifts is None:
            reader.problem(key, "goes with shifts")
        optional[key] = value
    people = table.get("people", [] if shifts is not None else None)
    if not isinstance(people, list) or (not people and shifts is None) or not all(
            isinstance(p, str) and p.strip() for p in people):
        reader.problem("people", 'expected the rotation as a list of AAD object ids, like '
                                 'people = ["<object id>", "<object id>"] (or shifts = '
                                 '"<team id>" for Teams Shifts)')
        people = []
    names = table.get("names", {})
    if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
        reader.problem("names", 'expected a table of object id = "display name"')
        names = {}
    handoff = _clock(table.get("handoff", "09:00"))
    if handoff is None:
        reader.problem("handoff", 'expected a local time like handoff = "09:00"')
        handoff = time(9, 0)
    rotation_text = table.get("rotation", "weekly")
    rotation, length = "weekly", timedelta(days=7)
    if rotation_text in ("daily", "weekly"):
        rotation = str(rotation_text)
        length = timedelta(days=1 if rotation == "daily" else 7)
    else:
        try:
            seconds = parse_duration(rotation_text)
        except ValueError:
            seconds = 0.0
        if seconds < 3600:
            reader.problem("rotation", 'expected "daily", "weekly" or a duration of an hour '
                                       f'or more like "12h", got {rotation_text!r}')
        else:
            rotation, length = "duration", timedelta(seconds=seconds)
    start_value = table.get("start", "2026-01-05")
    start_moment = _moment(start_value, zone)
    if start_moment is None:
        reader.problem("start", 'expected the date of the first handoff, like start = '
                                '"2026-12-07"')
        start = date(2026, 1, 5)
    else:
        start = start_moment.date()
    hours = None
    raw_hours = table.get("office_hours")
    if raw_hours is not None:
        hours = _office_hours(raw_hours, reader)
    after = table.get("after_hours")
    if after is not None and (not isinstance(after, str) or not after):
        reader.problem("after_hours", 'expected the name of another schedule')
        after = None
    if after is not None and hours is None:
        reader.problem("after_hours", "needs office_hours (the hours this schedule covers)")
    overrides = _overrides(table.get("overrides", []), zone, reader)
    if reader.problems:
        return None, reader.problems
    return Schedule(name=name, zone=zone, people=tuple(p.strip() for p in people),
                    handoff=handoff, rotation=rotation, length=length, start=start,
                    office_hours=hours, after_hours=after, overrides=overrides,
                    names=dict(names), shifts=shifts, scheduling_group=optional[
                        "scheduling_group"], acts_as=optional["acts_as"]), []


def _office_hours(raw: Any, reader: _Reader) -> OfficeHours | None:
    example = 'office_hours = { days = ["mon", "tue", "wed", "thu", "fri"], from = "09:00", ' \
              'to = "17:00" }'
    if not isinstance(raw, dict):
        reader.problem("office_hours", f"expected a table, like {example}")
        return None
    days = raw.get("days", list(DAYS[:5]))
    start, end = _clock(raw.get("from")), _clock(raw.get("to"))
    if (not isinstance(days, list) or not days or
            not all(isinstance(d, str) and d.lower()[:3] in DAYS for d in days)
            or start is None or end is None or end <= start):
        reader.problem("office_hours", f"expected days and hours, like {example}")
        return None
    return OfficeHours(frozenset(DAYS.index(d.lower()[:3]) for d in days), start, end)


def _overrides(raw: Any, zone: ZoneInfo, reader: _Reader) -> tuple[Override, ...]:
    example = ('overrides = [{ person = "<object id>", from = "2026-12-24T18:00", '
               'to = "2026-12-27T09:00" }]')
    if not isinstance(raw, list):
        reader.problem("overrides", f"expected a list, like {example}")
        return ()
    found: list[Override] = []
    for item in raw:
        if not isinstance(item, dict):
            reader.problem("overrides", f"expected tables, like {example}")
            continue
        person = item.get("person")
        start, end = _moment(item.get("from"), zone), _moment(item.get("to"), zone)
        if not isinstance(person, str) or not person or start is None or end is None \
                or end <= start:
            reader.problem("overrides", f"each needs person, from and to (to after from), "
                                        f"like {example}")
            continue
        found.append(Override(person, start, end))
    return tuple(found)


def schedule_problems(tables: Any, source: str) -> tuple[list[Schedule], list[str]]:
    """The `[[schedule]]` tables of a rules document, and every problem with them."""
    if tables is None:
        return [], []
    if not isinstance(tables, list):
        return [], [f"{source}: schedules go in [[schedule]] tables"]
    schedules: list[Schedule] = []
    problems: list[str] = []
    for index, table in enumerate(tables):
        schedule, found = _read_schedule(source, index, table)
        problems += found
        if schedule is not None:
            schedules.append(schedule)
    names = [s.name for s in schedules]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{source}: schedule name {duplicate!r} is used twice")
    known = set(names)
    for schedule in schedules:
        if schedule.after_hours and schedule.after_hours not in known:
            problems.append(f"{source}: schedule {schedule.name!r}, key 'after_hours': no "
                            f"schedule is named {schedule.after_hours!r}")
    return (schedules if not problems else []), problems


def unknown_oncall_targets(targets: Sequence[str], known: set[str]) -> list[str]:
    """The `oncall:` targets that name no schedule."""
    return [t for t in targets if t.startswith("oncall:") and t[len("oncall:"):] not in known]


def parse_schedules(text: str, source: str = "rules") -> list[Schedule]:
    return schedules_of(parse_document(text, source), source)


def schedules_of(document: dict[str, Any], source: str) -> list[Schedule]:
    schedules, problems = schedule_problems(document.get("schedule"), source)
    if problems:
        raise ConfigError("Invalid on-call schedules:\n  - " + "\n  - ".join(problems))
    return schedules


def load_schedules(path: Path) -> list[Schedule]:
    """The schedules of the rules file; none when there is no file."""
    document = read_document(path)
    return [] if document is None else schedules_of(document, str(path))
