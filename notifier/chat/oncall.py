"""The `oncall` chat command: who is on call now and who is next, per schedule; and overrides
taken in chat (`oncall take 2h [schedule]`, `oncall give back [schedule]`), stored so every
replica sees them, audited, and in force for routing at once in this process (other replicas
read them within `REFRESH_SECONDS`)."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from common.durations import parse_duration
from common.literal import shown
from notifier.alerts.schedules import Override, Schedules, Shift
from notifier.delivery.cards import NAME_LIMIT
from storage.audit import AuditEntry, AuditLog, log_entry
from storage.backend import SqlBackend
from storage.models import Scope
from storage.oncall import KEEP_ENDED, OverrideRecord, OverrideStore
from storage.registry import ConversationRegistry

log = logging.getLogger(__name__)

REFRESH_SECONDS = 15.0
TAKE_MAX = timedelta(days=7)
USAGE = ("Write **oncall** (who is on call), **oncall** *schedule*, **oncall take** *duration* "
         "[*schedule*] (like `oncall take 2h dc`) or **oncall give back** [*schedule*].")


def _at(moment: datetime, zone_of: datetime) -> str:
    local = moment.astimezone(zone_of.tzinfo)
    return f"{local:%a %d %b %H:%M} {local.tzname()}"


def _line(schedules: Schedules, shift: Shift, now: datetime) -> str:
    schedule = schedules.get(shift.schedule)
    local_now = now.astimezone(schedule.zone) if schedule is not None else now
    line = f"- **{shift.schedule}**: {schedules.display(shift.person)}"
    if shift.override:
        line += " (override)"
    if shift.via:
        line += f" (after hours, from {shift.via})"
    if shift.until is not None:
        line += f" until {_at(shift.until, local_now)}"
    if shift.next_person is not None and shift.next_person != shift.person:
        line += f", then {schedules.display(shift.next_person)}"
    return line


def oncall_text(schedules: Schedules, now: datetime, name: str | None = None) -> str:
    """Who is on call in every schedule (or in `name`), at `now`."""
    if not len(schedules):
        return ("No on-call schedules are set up. Add `[[schedule]]` tables to the rules file "
                "(see docs/rules.md, *`[[schedule]]`: who is on call*).")
    if name is not None and name not in schedules:
        known = ", ".join(s.name for s in schedules)
        return (f"There is no schedule named `{shown(name, NAME_LIMIT)}`. "
                f"Schedules: {known}.")
    names = [name] if name is not None else [s.name for s in schedules]
    lines = [_line(schedules, schedules.shift(n, now), now) for n in names]
    return "**On call now**\n\n" + "\n".join(lines)


class OnCallDesk:
    """The schedules with the overrides taken in chat."""

    def __init__(self, db: SqlBackend, schedules: Schedules,
                 operators: frozenset[str] = frozenset()) -> None:
        """`operators`: AAD object ids (lower case) who may take any schedule (OPERATORS)."""
        self.schedules = schedules
        self._operators = operators
        self._store = OverrideStore(db)
        self._audit = AuditLog(db)
        self._registry = ConversationRegistry(db)

    async def refresh(self, now: datetime) -> None:
        """Read the overrides taken in chat into the schedules (every replica, periodically)."""
        found: dict[str, list[Override]] = defaultdict(list)
        for record in await self._store.current(now):
            found[record.schedule].append(Override(record.person, record.start, record.end))
        self.schedules.set_live(found)

    async def step(self, now: datetime) -> float:
        """One run of the background job; the seconds until the next."""
        await self.refresh(now)
        await self._store.prune(now - KEEP_ENDED)
        return REFRESH_SECONDS

    def _schedule(self, words: list[str]) -> tuple[str | None, str]:
        """The schedule named in `words` (or the only one); else None and what to say."""
        if words:
            name = " ".join(words)
            if name in self.schedules:
                return name, ""
            return None, f"There is no schedule named `{shown(name, NAME_LIMIT)}`."
        names = [s.name for s in self.schedules]
        if len(names) == 1:
            return names[0], ""
        return None, f"Which schedule? Name one of: {', '.join(names) or 'none'}."

    async def answer(self, args: list[str], name: str, where: tuple[str, str],
                     now: datetime) -> str:
        """The reply to `oncall ...` from `name` in conversation `where` (tenant id,
        conversation id): who they are is known in their personal chat."""
        conversation = await self._registry.get_conversation(*where)
        person = conversation.user_aad_object_id if conversation is not None and (
            conversation.scope is Scope.PERSONAL) else None
        words = [w.lower() if i < 2 else w for i, w in enumerate(args)]
        if not words or words[0] not in ("take", "give"):
            return oncall_text(self.schedules, now, " ".join(args) or None)
        if not len(self.schedules):
            return oncall_text(self.schedules, now)
        if person is None:
            return ("I can't tell who you are here: write **oncall take** in your personal chat "
                    "with me.")
        if words[0] == "take":
            return await self._take(words[1:], person, name, where, now)
        if words[1:2] != ["back"]:
            return USAGE
        schedule, problem = self._schedule(args[2:])
        if schedule is None:
            return problem
        ended = await self._store.give_back(schedule, person, now)
        await self.refresh(now)
        if not ended:
            return f"You have no override in **{schedule}** to give back."
        await self._record(f"gave back {schedule}", name, where, now)
        shift = self.schedules.shift(schedule, now)
        return f"Given back. On call in **{schedule}** now: {self.schedules.display(shift.person)}."

    async def _take(self, args: list[str], person: str, name: str, where: tuple[str, str],
                    now: datetime) -> str:
        try:
            seconds = parse_duration(args[0]) if args else 0.0
        except ValueError:
            seconds = 0.0
        if seconds < 60 or seconds > TAKE_MAX.total_seconds():
            return "Say for how long, from a minute to 7 days, like **oncall take 2h**."
        schedule, problem = self._schedule(args[1:])
        if schedule is None:
            return problem
        if person.lower() not in self.schedules.members(schedule) | self._operators:
            log.info("Refused oncall take of %s by %s: not one of its people", schedule, name)
            return (f"Only the people of **{shown(schedule, NAME_LIMIT)}** (or an operator) "
                    "can take it over.")
        end = now + timedelta(seconds=seconds)
        await self._store.take(OverrideRecord(schedule, person, now, end, name))
        await self.refresh(now)
        await self._record(f"took {schedule} until {end:%Y-%m-%d %H:%M} UTC", name, where, now)
        zone = self.schedules.get(schedule)
        local = now.astimezone(zone.zone) if zone is not None else now
        return f"You are on call in **{schedule}** until {_at(end, local)}."

    async def _record(self, detail: str, name: str, where: tuple[str, str],
                      now: datetime) -> None:
        entry = AuditEntry("oncall-override", now, name, where[0], where[1], None, detail)
        await self._audit.record(entry)
        log_entry(entry)
