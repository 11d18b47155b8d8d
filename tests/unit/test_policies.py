"""Escalation policies: which steps are due, and every problem in an [[escalation]] table."""

from __future__ import annotations

import pytest

from common.errors import ConfigError
from notifier.alerts.routes import parse_routes
from notifier.alerts.routing import REPEAT_LIMIT, Escalation, Step
from notifier.monitoring.rules import parse_rules

POLICY = """
[[escalation]]
name = "dc-critical"
steps = [
  { after = "5m", targets = ["user:a"] },
  { after = "15m", targets = ["team:T"] },
]
repeat = "30m"
"""
RULE = '[[rule]]\nname = "r"\nmeasurement = "t"\ncrit_above = 30.0\n'


def test_due_steps_are_the_listed_ones_and_the_latest_repetition() -> None:
    policy = Escalation(300.0, ("user:a",), (Step(900.0, ("team:T",)),), repeat=1800.0)
    assert policy.due(299) == []
    assert [n for n, _ in policy.due(300)] == [0]
    assert [n for n, _ in policy.due(900)] == [0, 1]
    assert [n for n, _ in policy.due(2699)] == [0, 1]
    assert [n for n, _ in policy.due(2700)] == [0, 1, 2]  # 15 min + 30 min
    assert [n for n, _ in policy.due(4500)] == [0, 1, 3]  # only the latest repetition
    assert policy.due(10**9)[-1][0] == 1 + REPEAT_LIMIT  # bounded
    assert policy.due(4500)[-1][1].targets == ("team:T",)


def test_a_one_step_escalation_is_due_once() -> None:
    assert [n for n, _ in Escalation(600.0, ("user:a",)).due(10**6)] == [0]


def test_rules_and_routes_name_a_policy() -> None:
    [rule] = parse_rules(POLICY + RULE + 'escalation = "dc-critical"\n')
    assert rule.policy is not None and rule.policy.name == "dc-critical"
    assert [step.after for step in rule.policy.steps] == [300.0, 900.0]
    [route] = parse_routes(POLICY + '[[route]]\nmatchers = []\ntargets = ["team:T"]\n'
                           'escalation = "dc-critical"\n')
    assert route.escalation == rule.policy


@pytest.mark.parametrize(("text", "says"), [
    (RULE + 'escalation = "nope"\n', "no [[escalation]] policy is named 'nope'"),
    (POLICY + RULE + 'escalation = "dc-critical"\nescalate_after = "5m"\n'
     'escalate_to = ["user:a"]\n', "not both"),
    ('[[escalation]]\nname = "p"\nsteps = []\n' + RULE, "key 'steps'"),
    ('[[escalation]]\nname = "p"\nsteps = [{ after = "10m", targets = ["user:a"] }, '
     '{ after = "5m", targets = ["user:b"] }]\n' + RULE, "must be later than step 1"),
    ('[[escalation]]\nname = "p"\nsteps = [{ after = "10m", targets = ["room:1"] }]\n' + RULE,
     "'room:1' is not a target"),
    ('[[escalation]]\nname = "p"\nsteps = [{ after = "10m", targets = ["oncall:x"] }]\n'
     + RULE + 'escalation = "p"\n', "'oncall:x' names no [[schedule]]"),
    ('[[escalation]]\nname = "p"\nrepeat = "10s"\nsteps = [{ after = "1m", targets = '
     '["user:a"] }]\n' + RULE, "key 'repeat'"),
    ('[[escalation]]\nname = "p"\nsteps = [{ after = "1m", targets = ["user:a"], '
     'page = true }]\n' + RULE, "step 1, key 'page': unknown key"),
    (RULE + 'preset = ["ashrae-a1"]\n', "key 'preset': unknown preset"),  # not a crash
])
def test_every_policy_problem_is_named(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_rules(text, "rules.toml")
    assert says in str(raised.value)
