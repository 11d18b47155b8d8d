"""Routes for alerts that carry labels (the alert receivers): `[[route]]` tables in the rules
file, each label matchers and targets (and, optionally, an escalation: `escalate_after`,
`escalate_to`, as for rules); the first route whose matchers all match names the targets, and
an alert that no route matches goes to the default audience.

Matchers are Alertmanager's: `name="value"` (equal), `name!="value"`, `name=~"regex"` and
`name!~"regex"`; regular expressions are fully anchored (`=~"db.*"` does not match `mydb`);
a label the alert lacks is the empty string. An InfluxDB check's `alertname` is its name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.durations import parse_duration
from common.errors import ConfigError
from notifier.alerts.events import AlertEvent
from notifier.alerts.policies import named_policy, policy_problems
from notifier.alerts.routing import Escalation, parse_target
from notifier.alerts.rulesfile import parse_document, read_document

_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|'
                      r"([^\s\"]*))\s*$")
ROUTE_KEYS = ("matchers", "targets", "escalate_after", "escalate_to", "escalation")
EXAMPLE = 'matchers = [\'severity="critical"\', \'team=~"db|storage"\']'


@dataclass(frozen=True)
class Matcher:
    name: str
    operator: str  # =, !=, =~, !~
    value: str
    pattern: re.Pattern[str] | None = None

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.pattern is not None:
            found = self.pattern.fullmatch(actual) is not None
            return found if self.operator == "=~" else not found
        return (actual == self.value) if self.operator == "=" else actual != self.value

    def __str__(self) -> str:
        return f'{self.name}{self.operator}"{self.value}"'


def parse_matcher(text: str) -> Matcher:
    """`severity="critical"`, `team=~"db|storage"`, ...; ValueError saying what is wrong."""
    found = _MATCHER.match(text)
    if not found:
        raise ValueError(f"{text!r} is not a matcher: use label=\"value\", label!=\"value\", "
                         "label=~\"regex\" or label!~\"regex\"")
    name, operator, quoted, bare = found.groups()
    value = quoted.replace('\\"', '"').replace("\\\\", "\\") if quoted is not None else bare
    pattern = None
    if operator in ("=~", "!~"):
        try:
            pattern = re.compile(value)
        except re.error as error:
            raise ValueError(f"{text!r}: the regular expression is invalid ({error})") from None
    return Matcher(name, operator, value, pattern)


@dataclass(frozen=True)
class Route:
    matchers: tuple[Matcher, ...]
    targets: tuple[str, ...]
    escalation: Escalation | None = None

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(matcher.matches(labels) for matcher in self.matchers)


def route_problems(tables: Any, source: str, policies: Mapping[str, Escalation] | None = None
                   ) -> tuple[list[Route], list[str]]:
    """The routes of a rules file's `route` key, and every problem (naming route and key);
    `policies` are the file's `[[escalation]]` policies, which a route may name."""
    if tables is None:
        return [], []
    if not isinstance(tables, list):
        return [], [f"{source}: 'route' must be [[route]] tables"]
    routes: list[Route] = []
    problems: list[str] = []
    for index, table in enumerate(tables):
        where = f"{source}: route #{index + 1}"
        if not isinstance(table, dict):
            problems.append(f"{where}: expected a [[route]] table")
            continue
        for key in sorted(set(table) - set(ROUTE_KEYS)):
            problems.append(f"{where}, key {key!r}: unknown key; a route has matchers, "
                            "targets, escalate_after and escalate_to, or escalation")
        matchers: list[Matcher] = []
        raw = table.get("matchers", [])
        if not isinstance(raw, list) or not all(isinstance(m, str) for m in raw):
            problems.append(f"{where}, key 'matchers': expected a list of strings, like "
                            f"{EXAMPLE}")
            raw = []
        for text in raw:
            try:
                matchers.append(parse_matcher(text))
            except ValueError as error:
                problems.append(f"{where}, key 'matchers': {error}")
        targets = _targets(table, "targets", where, problems)
        def problem(key: str, message: str, where: str = where) -> None:
            problems.append(f"{where}, key {key!r}: {message}")

        escalation = named_policy(table, policies or {}, problem)
        if "escalation" not in table and ("escalate_to" in table or "escalate_after" in table):
            escalate_to = _targets(table, "escalate_to", where, problems)
            try:
                after = parse_duration(table.get("escalate_after"))
            except ValueError:
                after = 0.0
            if after <= 0:
                problems.append(f"{where}, key 'escalate_after': say after how long an "
                                'unacknowledged critical goes to escalate_to, like '
                                'escalate_after = "10m"')
            escalation = Escalation(after, tuple(escalate_to))
        routes.append(Route(tuple(matchers), tuple(targets), escalation))
    return (routes if not problems else []), problems


def _targets(table: Mapping[str, Any], key: str, where: str, problems: list[str]) -> list[str]:
    """A route's list of targets under `key`, each checked by `parse_target`."""
    targets = table.get(key)
    if not isinstance(targets, list) or not targets or not all(
            isinstance(t, str) for t in targets):
        problems.append(f"{where}, key {key!r}: expected a non-empty list of targets, "
                        f'like {key} = ["team:<team id>"]')
        return []
    for target in targets:
        try:
            parse_target(target)
        except ValueError as error:
            problems.append(f"{where}, key {key!r}: {error}")
    return targets


def parse_routes(text: str, source: str = "rules") -> list[Route]:
    return routes_of(parse_document(text, source), source)


def routes_of(document: dict[str, Any], source: str) -> list[Route]:
    policies, problems = policy_problems(document.get("escalation"), source)
    routes, found = route_problems(document.get("route"), source, policies)
    problems += found
    if problems:
        raise ConfigError("Invalid alert routes:\n  - " + "\n  - ".join(problems))
    return routes


def load_routes(path: Path) -> list[Route]:
    """The routes of the rules file; none when there is no file."""
    document = read_document(path)
    return [] if document is None else routes_of(document, str(path))


class LabelRouting:
    """Routing for the alert receivers' events: the first route whose matchers all match
    the alert's labels, else the default audience."""

    def __init__(self, routes: Sequence[Route] = ()) -> None:
        self.routes = list(routes)

    def update(self, routes: Sequence[Route]) -> None:
        self.routes = list(routes)

    def _route(self, rule: str, labels: Mapping[str, str]) -> Route | None:
        labels = {"alertname": rule, **labels}
        return next((route for route in self.routes if route.matches(labels)), None)

    def targets_for(self, event: AlertEvent) -> tuple[str, ...] | None:
        route = self._route(event.rule, event.series)
        return route.targets if route is not None else None

    def escalation_for(self, rule: str, labels: Mapping[str, str]) -> Escalation | None:
        """The escalation of the route an incident's group labels match (the labels its
        alerts share, so a route that matches on them matches every alert of it)."""
        route = self._route(rule, labels)
        return route.escalation if route is not None else None
