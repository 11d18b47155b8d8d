"""Who is told about an alert event: a source's routing names targets, or leaves the event to
the default audience (every active personal chat and every team's alert channel).

Targets are text: `user:<AAD object id>` (that person's chat with the bot), `team:<team id>`
(the team's alert channel), `conversation:<id>` or `channel:<id>` (that conversation), and
`oncall:<schedule>` (whoever is on call in that schedule when the alert is planned; see
`notifier/alerts/schedules.py`, which turns it into a `user:` target before it is resolved).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from notifier.alerts.events import AlertEvent
from storage.models import Conversation, Scope

TARGET_KINDS = ("user", "team", "conversation", "channel", "oncall")
TARGET_FORMS = ('"user:<AAD object id>", "team:<team id>", "conversation:<conversation id>" '
                'or "oncall:<schedule>"')

Key = tuple[str, str]  # (tenant id, conversation id)


def parse_target(target: str) -> tuple[str, str]:
    """(kind, value) of one target; ValueError naming the accepted forms."""
    kind, _, value = target.partition(":")
    if kind not in TARGET_KINDS or not value:
        raise ValueError(f"{target!r} is not a target: use {TARGET_FORMS}")
    return kind, value


REPEAT_LIMIT = 48  # repetitions of a policy's last step in one critical episode


@dataclass(frozen=True)
class Step:
    """One escalation step: `after` seconds into the critical episode, tell `targets`."""

    after: float
    targets: tuple[str, ...]


@dataclass(frozen=True)
class Escalation:
    """An escalation policy. A critical incident nobody acknowledged for `after` seconds goes to
    `targets`; then each of `later` at its own `after` (also counted from the start of the
    critical episode); then, when `repeat` is set, the last step again every `repeat` seconds
    (at most `REPEAT_LIMIT` times). `escalate_after`/`escalate_to` are the one-step policy."""

    after: float
    targets: tuple[str, ...]
    later: tuple[Step, ...] = ()
    repeat: float = 0.0
    name: str = ""

    @property
    def steps(self) -> tuple[Step, ...]:
        return (Step(self.after, self.targets), *self.later)

    def due(self, waited: float) -> list[tuple[int, Step]]:
        """The steps whose time has come `waited` seconds into the episode, numbered from 0:
        every listed step that is due, and of the repetitions only the latest one due."""
        steps = self.steps
        found = [(number, step) for number, step in enumerate(steps) if waited >= step.after]
        if self.repeat > 0 and waited >= steps[-1].after + self.repeat:
            times = min(int((waited - steps[-1].after) // self.repeat), REPEAT_LIMIT)
            found.append((len(steps) - 1 + times, steps[-1]))
        return found


class Routing(Protocol):
    def targets_for(self, event: AlertEvent) -> tuple[str, ...] | None:
        """The event's targets, or None for the default audience."""
        ...


class SourceRouting(Routing, Protocol):
    """A source's own routing: targets, and escalation."""

    def escalation_for(self, rule: str, labels: Mapping[str, str]) -> Escalation | None:
        """Where an unacknowledged critical incident of `rule` (its group's `labels`) goes,
        or None."""
        ...


class Escalations(Protocol):
    def escalation_for(self, source: str, rule: str,
                       labels: Mapping[str, str]) -> Escalation | None:
        """The escalation of an incident of `source`, or None."""
        ...


def mentioned_users(targets: Iterable[str]) -> list[str]:
    """The AAD object ids that `user:` targets name (people to @mention in a channel)."""
    return [value for kind, value in map(parse_target, targets) if kind == "user"]


class SourceRouter:
    """Routes each event by its source's own routing (monitoring rules, a webhook's route
    table); a source without routing goes to the default audience."""

    def __init__(self, routes: Mapping[str, SourceRouting]) -> None:
        self._routes = dict(routes)

    def targets_for(self, event: AlertEvent) -> tuple[str, ...] | None:
        routing = self._routes.get(event.source)
        return routing.targets_for(event) if routing is not None else None

    def escalation_for(self, source: str, rule: str,
                       labels: Mapping[str, str]) -> Escalation | None:
        routing = self._routes.get(source)
        return routing.escalation_for(rule, labels) if routing is not None else None


def resolve_targets(targets: Iterable[str], conversations: Iterable[Conversation],
                    defaults: Iterable[Conversation]) -> set[Key]:
    """The conversations that `targets` name, among those known (`defaults`: the alert
    targets of the registry, which know each team's alert channel)."""
    wanted = [parse_target(target) for target in targets]
    teams = {value for kind, value in wanted if kind == "team"}
    found = {(c.tenant_id, c.conversation_id) for c in defaults
             if c.scope is Scope.CHANNEL and c.team_id in teams}
    users = {value.lower() for kind, value in wanted if kind == "user"}
    ids = {value for kind, value in wanted if kind in ("conversation", "channel")}
    for conversation in conversations:
        key = (conversation.tenant_id, conversation.conversation_id)
        if conversation.conversation_id in ids or (
                conversation.scope is Scope.PERSONAL and
                (conversation.user_aad_object_id or "").lower() in users):
            found.add(key)
    return found
