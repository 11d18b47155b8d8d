"""The rules file, read and parsed once per load (`read_rules_file`: at start and on every
reload, for the rules, the routes and the schedules alike), and its hot reload: on SIGHUP, and
when the file changes (its content is checked every few seconds; no file-watching dependency).
A valid file replaces the rules for the monitor (from its next poll), the routing and the chat
commands; an invalid one keeps the rules in force and logs every problem, once per version of
the file. Series of rules that are gone have their open alerts resolved with the note "rule
removed" (the monitor does that)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from common.clock import utcnow
from common.errors import ConfigError
from common.retry import Backoff, run_forever
from notifier.alerts.events import INFLUXDB
from notifier.alerts.routes import LabelRouting, Route, routes_of
from notifier.alerts.routing import SourceRouter, SourceRouting
from notifier.alerts.rulesfile import read_document
from notifier.alerts.schedules import OnCallRouting, Schedule, Schedules, schedules_of
from notifier.inbound.sources import PUSH_SOURCES
from notifier.monitoring.rules import Rule, RuleRouting, load_rules, rules_of

log = logging.getLogger(__name__)

CHECK_SECONDS = 3.0


@dataclass(frozen=True)
class RulesFile:
    """What the rules file holds: the monitoring's rules, the receivers' routes, the on-call
    schedules (the escalation policies come with the rules and routes that name them)."""

    rules: list[Rule] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)


def read_rules_file(path: Path, required: bool = True) -> RulesFile:
    """The rules file, read and parsed once. A missing file is a ConfigError when `required`
    (monitoring is on), else nothing: the receivers route to the default audience."""
    document = read_document(path)
    if document is None:
        if required:
            load_rules(path)  # raises the ConfigError that names RULES_FILE and the fix
        return RulesFile()
    source = str(path)
    return RulesFile(rules_of(document, source), routes_of(document, source),
                     schedules_of(document, source))


@dataclass(frozen=True)
class Rules:
    """The rules file in force: one list of rules (shared with the charts, the exposure report
    and the chat commands, replaced in place on a reload) and the routings built on it."""

    rules: list[Rule]
    routing: RuleRouting  # the monitoring's events: a rule's targets and escalation
    labels: LabelRouting  # the receivers' events: [[route]]
    schedules: Schedules  # [[schedule]], and Teams Shifts

    @classmethod
    def of(cls, loaded: RulesFile) -> Rules:
        return cls(list(loaded.rules), RuleRouting(loaded.rules), LabelRouting(loaded.routes),
                   Schedules(loaded.schedules))

    def sources(self, resolve: bool = True) -> SourceRouter:
        """Each source's routing: the monitoring's rules, the receivers' [[route]] tables
        (notifier/inbound/sources.py); their `oncall:<schedule>` targets name whoever is on
        call when they are asked for (unless not `resolve`: as the rules file says them, for
        the cards' on-call lines)."""
        def routed(routing: SourceRouting) -> SourceRouting:
            return OnCallRouting(routing, self.schedules, utcnow) if resolve else routing

        labels = routed(self.labels)
        return SourceRouter({INFLUXDB: routed(self.routing),
                             **{source.source: labels for source in PUSH_SOURCES}})



class RulesReloader:
    def __init__(self, path: Path, rules: list[Rule],
                 apply: Callable[[list[Rule]], None],
                 also: Callable[[RulesFile], None] | None = None) -> None:
        self.path = path
        self.rules = list(rules)
        self._apply = apply
        self._also = also  # the routes and schedules, from the same read of the file
        self._fingerprint = self._read_fingerprint()

    def _read_fingerprint(self) -> str | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None

    def check(self, why: str = "the file changed", force: bool = False) -> bool:
        """Reload if the file changed (or `force`); True if new rules are in force."""
        fingerprint = self._read_fingerprint()
        if fingerprint == self._fingerprint and not force:
            return False
        self._fingerprint = fingerprint
        try:
            loaded = read_rules_file(self.path)
        except ConfigError as error:
            log.error("Rules not reloaded (%s); the %d rule(s) in force stay: %s", why,
                      len(self.rules), error)
            return False
        rules = loaded.rules
        if self._also is not None:
            self._also(loaded)
        before = {rule.name: rule for rule in self.rules}
        after = {rule.name: rule for rule in rules}
        added = sorted(set(after) - set(before))
        removed = sorted(set(before) - set(after))
        changed = sorted(name for name in set(before) & set(after)
                         if before[name] != after[name])
        if not (added or removed or changed):
            log.info("Rules reloaded (%s): %s unchanged, %d rule(s)", why, self.path,
                     len(rules))
            return False
        self.rules = rules
        self._apply(rules)
        log.info("Rules reloaded (%s): %d rule(s) from %s; added %s, removed %s, changed %s; "
                 "in force from the next poll", why, len(rules), self.path,
                 ", ".join(added) or "none", ", ".join(removed) or "none",
                 ", ".join(changed) or "none")
        return True

    async def run(self, interval: float = CHECK_SECONDS) -> None:
        """Check the file every `interval` seconds, forever; a failing check (the watcher
        must never die) is logged once per distinct problem and retried."""
        async def step() -> float:
            self.check()
            return interval

        await asyncio.sleep(interval)
        await run_forever(step, what="Checking the rules file", log=log,
                          backoff=Backoff(interval, 60.0))
