"""The `oncall` chat command: who is on call now and who is next, per schedule."""

from __future__ import annotations

from datetime import datetime

from notifier.alerts.schedules import Schedules, Shift


def _at(moment: datetime | None, schedules_zone: str, shift_zone: datetime) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(shift_zone.tzinfo)
    return f"{local:%a %d %b %H:%M} {schedules_zone}"


def _line(schedules: Schedules, shift: Shift, now: datetime) -> str:
    schedule = schedules.get(shift.schedule)
    zone = schedule.zone if schedule is not None else None
    zone_name = str(zone) if zone is not None else "UTC"
    local_now = now.astimezone(zone) if zone is not None else now
    who = schedules.display(shift.person)
    line = f"- **{shift.schedule}**: {who}"
    if shift.override:
        line += " (override)"
    if shift.via:
        line += f" (after hours, from {shift.via})"
    if shift.until is not None:
        line += f" until {_at(shift.until, zone_name, local_now)}"
    if shift.next_person is not None and shift.next_person != shift.person:
        line += f", then {schedules.display(shift.next_person)}"
    return line


def oncall_text(schedules: Schedules, now: datetime, name: str | None = None) -> str:
    """Who is on call in every schedule (or in `name`), at `now`."""
    if not len(schedules):
        return ("No on-call schedules are set up. Add `[[schedule]]` tables to the rules file "
                "(see the README, *On-call schedules*).")
    if name is not None and name not in schedules:
        known = ", ".join(s.name for s in schedules)
        return f"There is no schedule named {name!r}. Schedules: {known}."
    names = [name] if name is not None else [s.name for s in schedules]
    lines = [_line(schedules, schedules.shift(n, now), now) for n in names]
    return "**On call now**\n\n" + "\n".join(lines)
