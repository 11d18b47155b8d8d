"""Who is on call for an incident and who was paged: what its card says about paging.

For an incident whose routing names `oncall:<schedule>` targets (a rule's or a route's
`targets` or any step of its escalation) or an escalation policy, the card says:

- who is on call now in each schedule it names, by display name (as of the card's rendering:
  the card is rendered again whenever it is updated, and says at what time this was true);
- who was paged, by which step, and when: from the audit trail, the same `paged` (the critical
  card reaching the personal chats its targets name) and `escalated` entries
  `history <alert>` lists (so the card and history agree, after a restart and on every
  replica: nothing here is kept in memory);
- what comes next: the next step, when, and whom it would page now; or that an
  acknowledgement stopped the escalation.

The words of an escalation step's audit entry are written and read here (`step_detail`,
`read_step`), so the writer (`escalation.py`) and this reader cannot drift apart. The names in
an entry came from outside (Teams display names): the card shows them through
`common.literal`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from notifier.alerts.events import AlertEvent, EventKind, Severity
from notifier.alerts.record import AlertRecord
from notifier.alerts.routing import REPEAT_LIMIT, Escalation, mentioned_users, parse_target
from notifier.alerts.schedules import Schedules
from storage.audit import SYSTEM, AuditEntry, AuditLog
from storage.backend import SqlBackend
from storage.models import Conversation, Scope, Status
from storage.registry import ConversationRegistry

log = logging.getLogger(__name__)

# Installs HeatWatch for people a page targets who have no chat with it (the composition root
# passes the Graph reconciler's `reach`); awaited before the page chooses whom to tell.
Reach = Callable[[Sequence[str]], Awaitable[None]]
REACH_TIMEOUT = 10.0  # seconds a page waits for Graph to install someone, at most
ESCALATED = "escalated"  # the audit action of an escalation step
PAGED = "paged"  # the audit action of a critical card reaching the people its targets name
_FIRST = "the critical card; told: "
NOBODY = "nobody reachable"
_STEP = re.compile(r"^(?:step (\d+) of ([A-Za-z0-9][A-Za-z0-9_.-]*|the escalation)"
                   r"(?: again \((\d+)\))?: )?nobody acknowledged for [^;]*; told: (.*)$",
                   re.DOTALL)


def step_detail(number: int, policy: Escalation, waited: str, told: Sequence[str]) -> str:
    """The audit entry's words for step `number` (from 0) of `policy`: "step 2 of dc-critical:
    nobody acknowledged for 16 min; told: Alex Wilber" ("step 2 of dc-critical again (3): …"
    for a repetition of the last step; no step words for a one-step policy)."""
    steps, name = len(policy.steps), policy.name or "the escalation"
    which = "" if steps == 1 and not policy.repeat else (
        f"step {number + 1} of {name}: " if number < steps else
        f"step {steps} of {name} again ({number - steps + 2}): ")
    return f"{which}nobody acknowledged for {waited}; told: {', '.join(told) or NOBODY}"


@dataclass(frozen=True)
class Page:
    """One escalation step taken: who it told (as the audit entry says), when."""

    step: int  # from 1; 0: the critical card itself, before any step (`first_page`)
    policy: str  # the policy's name ("" for a rule's escalate_after/escalate_to)
    told: str  # names, from outside ("Megan Bowen, Contoso › Alerts"), or NOBODY
    at: datetime
    again: int = 0  # a repetition of the last step: which time (2, 3, ...); else 0


def first_page(alert_id: str, told: Sequence[str], at: datetime) -> AuditEntry:
    """The audit entry of an incident's critical card reaching the personal chats its routing
    names (the planner writes it with the card's deliveries): the first page, before any
    escalation step."""
    return AuditEntry(action=PAGED, at=at, actor=SYSTEM, alert_id=alert_id,
                      detail=_FIRST + ", ".join(told))


def read_step(entry: AuditEntry) -> Page | None:
    """The page an `escalated` or `paged` audit entry records (a `paged` one as step 0);
    None for any other entry."""
    if entry.action == PAGED and entry.detail.startswith(_FIRST):
        return Page(0, "", entry.detail[len(_FIRST):], entry.at)
    if entry.action != ESCALATED:
        return None
    found = _STEP.match(entry.detail)
    if found is None:
        return None
    step, name, again, told = found.groups()
    return Page(int(step or 1), "" if name in (None, "the escalation") else name, told,
                entry.at, int(again or 0))


@dataclass(frozen=True)
class OnCall:
    """Who is on call now in one schedule the incident names."""

    schedule: str
    person: str | None  # display name (from outside); None: nobody is on call


@dataclass(frozen=True)
class NextStep:
    step: int  # from 1
    at: datetime
    again: bool  # a repetition of the last step
    reaches: str  # whom it would page now, in words ("Alex Wilber (on call in dc-2)")


@dataclass(frozen=True)
class Paging:
    """What an incident's card says about on call and paging (see the module's text)."""

    at: datetime  # when this was true (the card's rendering)
    on_call: tuple[OnCall, ...] = ()
    pages: tuple[Page, ...] = ()
    next_step: NextStep | None = None
    stopped: bool = False  # acknowledged while steps were left: no more pages


class PagingRouting(Protocol):
    """The sources' routing as the rules file says it (`oncall:` targets not yet resolved)."""

    def targets_for(self, event: AlertEvent) -> tuple[str, ...] | None: ...

    def escalation_for(self, source: str, rule: str,
                       labels: Mapping[str, str]) -> Escalation | None: ...


def _schedules_named(targets: Sequence[str]) -> list[str]:
    return [value for kind, value in map(parse_target, targets) if kind == "oncall"]


def next_step(policy: Escalation, critical_since: datetime,
              taken: int) -> tuple[int, datetime, bool] | None:
    """The step of `policy` after step `taken` (numbers from 0; -1: none taken yet in this
    critical episode): its number, when it is due, whether it repeats the last; None when no
    step is left."""
    steps, number = policy.steps, taken + 1
    if number < len(steps):
        return number, critical_since + timedelta(seconds=steps[number].after), False
    times = number - (len(steps) - 1)
    if policy.repeat <= 0 or times > REPEAT_LIMIT:
        return None
    return number, critical_since + timedelta(
        seconds=steps[-1].after + policy.repeat * times), True


def taken_number(page: Page, policy: Escalation) -> int:
    """The number (from 0) of the step a page records, repetitions counted on."""
    return len(policy.steps) - 2 + page.again if page.again else page.step - 1


class PagingReader:
    """Reads an incident's paging for its card: the routing and schedules in force (memory)
    and the incident's audit entries (one query), plus display names the schedules lack."""

    def __init__(self, db: SqlBackend, routing: PagingRouting, schedules: Schedules) -> None:
        self._audit = AuditLog(db)
        self._registry = ConversationRegistry(db)
        self._routing = routing
        self._schedules = schedules

    def _plan(self, alert: AlertRecord, now: datetime) -> tuple[
            tuple[str, ...], Escalation | None]:
        source, labels = alert.incident.source, dict(alert.incident.series)
        probe = AlertEvent(kind=EventKind.FIRED, rule=alert.rule, alert_id=alert.alert_id,
                           at=now, series=labels, source=source)
        return (self._routing.targets_for(probe) or (),
                self._routing.escalation_for(source, alert.rule, labels))

    async def of(self, alert: AlertRecord, now: datetime) -> Paging | None:
        """The incident's paging, or None when its routing names no schedule and no policy
        (the card then says nothing of paging)."""
        targets, policy = self._plan(alert, now)
        steps = policy.steps if policy is not None else ()
        named = list(dict.fromkeys(_schedules_named(
            [*targets, *(t for step in steps for t in step.targets)])))
        if not named and policy is None:
            return None
        pages = tuple(page for page in map(read_step, await self._audit.of_alert(
            alert.alert_id)) if page is not None)
        # Who is on call matters while the incident is open; its end keeps only who was paged.
        shifts = {name: self._schedules.shift(name, now).person
                  for name in (named if alert.open else ())}
        names = await self._names([p for p in shifts.values() if p])
        on_call = tuple(OnCall(name, names[p] if p else None) for name, p in shifts.items())
        episode = alert.incident.critical_since
        coming = None
        stopped = False
        if (policy is not None and alert.open and alert.incident.severity is Severity.CRIT
                and episode is not None):
            taken = max((taken_number(page, policy) for page in pages if page.at >= episode),
                        default=-1)
            found = next_step(policy, episode, taken)
            if found is not None and alert.acknowledged_by:
                stopped = True
            elif found is not None:
                number, at, again = found
                step = steps[min(number, len(steps) - 1)]
                coming = NextStep(min(number, len(steps) - 1) + 1, at, again,
                                  self._reaches(step.targets, shifts, names))
        return Paging(now, on_call, pages, coming, stopped)

    def _reaches(self, targets: Sequence[str], shifts: Mapping[str, str | None],
                 names: Mapping[str, str]) -> str:
        words = []
        for kind, value in map(parse_target, targets):
            if kind == "oncall":
                person = shifts.get(value)
                words.append(f"{names[person]} (on call in {value})" if person else
                             f"nobody on call in {value}")
            elif kind == "user":
                words.append(self._schedules.display(value))
            elif kind == "team":
                words.append("a team's alert channel")
            else:
                words.append("a chat")
        return ", ".join(dict.fromkeys(words))

    async def _names(self, people: Sequence[str]) -> dict[str, str]:
        """Display names: the schedules' `names`, else the name Teams gave the bot for a team
        or group chat member, else the AAD object id."""
        names = {person: self._schedules.display(person) for person in people}
        unknown = [person for person, name in names.items() if name == person]
        known = await self._registry.people(unknown) if unknown else {}
        for person in unknown:
            name = (known.get(person.lower()) or ("", ""))[0]
            if name:
                names[person] = name
        return names


def unreached(targets: Iterable[str], conversations: Iterable[Conversation]) -> list[str]:
    """The people `user:` targets name (`oncall:` resolved) who have no active personal chat
    with the bot. A person who blocked the bot is left alone (a page does not undo that)."""
    chats = {(c.user_aad_object_id or "").lower() for c in conversations
             if c.scope is Scope.PERSONAL and c.status in (Status.ACTIVE, Status.BLOCKED)}
    return list(dict.fromkeys(person for person in mentioned_users(targets)
                              if person.lower() not in chats))


async def reach_unreached(reach: Reach | None, targets: Iterable[str],
                          conversations: Iterable[Conversation]) -> bool:
    """Install HeatWatch for the people `targets` name who have no chat with it yet, waiting
    at most `REACH_TIMEOUT`; True when it tried (the caller reads the conversations again)."""
    people = unreached(targets, conversations) if reach is not None else []
    if reach is None or not people:
        return False
    try:
        async with asyncio.timeout(REACH_TIMEOUT):
            await reach(people)
    except TimeoutError:
        log.warning("Installing HeatWatch for %d paged person(s) took over %gs; paging whoever "
                    "is reachable now", len(people), REACH_TIMEOUT)
    return True
