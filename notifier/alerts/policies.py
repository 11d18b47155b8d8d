"""Escalation policies: `[[escalation]]` tables in the rules file, named by a rule's or a
route's `escalation` key.

```toml
[[escalation]]
name = "dc-critical"
steps = [
  { after = "5m", targets = ["oncall:dc"] },
  { after = "15m", targets = ["oncall:dc-secondary"] },
  { after = "30m", targets = ["team:<team id>"] },
]
repeat = "30m"   # optional: the last step again every 30 min until someone acknowledges
```

Each step's `after` counts from the start of the critical episode and must be later than the
step before. A rule's `escalate_after`/`escalate_to` stay as the one-step policy; a rule names
either those or `escalation`, not both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from common.durations import parse_duration
from notifier.alerts.routing import Escalation, Step, parse_target

POLICY_KEYS = ("name", "steps", "repeat")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
EXAMPLE = 'steps = [{ after = "5m", targets = ["oncall:dc"] }, { after = "15m", targets = ' \
          '["team:<team id>"] }]'


def _read_policy(source: str, index: int, table: Any) -> tuple[Escalation | None, list[str]]:
    if not isinstance(table, dict):
        return None, [f"{source}: [[escalation]] #{index + 1} must be a table"]
    name = table.get("name")
    label = f"{source}: escalation {name!r}" if isinstance(name, str) and name else \
        f"{source}: [[escalation]] #{index + 1}"
    problems = [f"{label}, key {key!r}: unknown key; a policy has name, steps and repeat"
                for key in sorted(set(table) - set(POLICY_KEYS))]
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(f'{label}, key \'name\': every policy needs a name, like name = '
                        '"dc-critical"')
    raw = table.get("steps")
    steps: list[Step] = []
    if not isinstance(raw, list) or not raw or not all(isinstance(s, dict) for s in raw):
        problems.append(f"{label}, key 'steps': expected a list of steps, like {EXAMPLE}")
        raw = []
    for number, item in enumerate(raw, start=1):
        where = f"{label}, step {number}"
        try:
            after = parse_duration(item.get("after"))
        except ValueError:
            after = -1.0
        if after <= 0:
            problems.append(f'{where}, key \'after\': say how long into the critical episode, '
                            'like after = "10m"')
        elif steps and after <= steps[-1].after:
            problems.append(f"{where}, key 'after': must be later than step {number - 1}")
        targets = item.get("targets")
        if not isinstance(targets, list) or not targets or not all(
                isinstance(t, str) for t in targets):
            problems.append(f"{where}, key 'targets': expected a non-empty list of targets, "
                            'like targets = ["oncall:dc"]')
            targets = []
        for target in targets:
            try:
                parse_target(target)
            except ValueError as error:
                problems.append(f"{where}, key 'targets': {error}")
        for key in sorted(set(item) - {"after", "targets"}):
            problems.append(f"{where}, key {key!r}: unknown key; a step has after and targets")
        steps.append(Step(after, tuple(targets)))
    repeat = 0.0
    if "repeat" in table:
        try:
            repeat = parse_duration(table["repeat"])
        except ValueError:
            repeat = 0.0
        if repeat < 60:
            problems.append(f'{label}, key \'repeat\': expected a duration of a minute or more, '
                            'like repeat = "30m"')
    if problems or not steps:
        return None, problems
    first, *later = steps
    return Escalation(first.after, first.targets, tuple(later), repeat, str(name)), []


def policy_problems(tables: Any, source: str) -> tuple[dict[str, Escalation], list[str]]:
    """The `[[escalation]]` tables of a rules document by name, and every problem."""
    if tables is None:
        return {}, []
    if not isinstance(tables, list):
        return {}, [f"{source}: escalation policies go in [[escalation]] tables"]
    policies: dict[str, Escalation] = {}
    problems: list[str] = []
    for index, table in enumerate(tables):
        policy, found = _read_policy(source, index, table)
        problems += found
        if policy is not None:
            if policy.name in policies:
                problems.append(f"{source}: escalation name {policy.name!r} is used twice")
            policies[policy.name] = policy
    return policies, problems


def named_policy(table: Mapping[str, Any], policies: Mapping[str, Escalation],
                 problem: Callable[[str, str], None]) -> Escalation | None:
    """The policy a rule or route names with `escalation = "<name>"`, if any; `problem(key,
    message)` is told what is wrong."""
    if "escalation" not in table:
        return None
    name = table["escalation"]
    if "escalate_after" in table or "escalate_to" in table:
        problem("escalation", "name a policy or give escalate_after/escalate_to, not both")
        return None
    if not isinstance(name, str) or name not in policies:
        known = ", ".join(sorted(policies)) or "none"
        problem("escalation", f"no [[escalation]] policy is named {name!r} (policies: {known})")
        return None
    return policies[name]


def all_targets(escalation: Escalation | None) -> tuple[str, ...]:
    """Every target of every step of a policy."""
    if escalation is None:
        return ()
    return tuple(t for step in escalation.steps for t in step.targets)
