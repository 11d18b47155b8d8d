"""Label routing of the alert receivers (notifier/alerts/routes.py): Alertmanager's matchers,
the first matching route, the default audience, and every problem of a [[route]] table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from common.errors import ConfigError
from notifier.alerts.events import AlertEvent, EventKind
from notifier.alerts.routes import LabelRouting, parse_matcher, parse_routes


def alert(rule: str = "DiskFull", **labels: str) -> AlertEvent:
    return AlertEvent(kind=EventKind.FIRED, rule=rule, alert_id="a1",
                      at=datetime(2026, 11, 21, tzinfo=UTC), series=labels,
                      source="alertmanager")


@pytest.mark.parametrize("matcher,labels,matches", [
    ('severity="critical"', {"severity": "critical"}, True),
    ('severity="critical"', {"severity": "warning"}, False),
    ('severity!="critical"', {"severity": "warning"}, True),
    ('team=~"db|storage"', {"team": "storage"}, True),
    ('team=~"db.*"', {"team": "mydb"}, False),  # fully anchored
    ('team!~"db.*"', {"team": "mydb"}, True),
    ('team!="db"', {}, True),  # a missing label is the empty string
    ('team=""', {}, True),
    ("team=db", {"team": "db"}, True),  # unquoted value
])
def test_matchers_follow_alertmanager(matcher: str, labels: dict[str, str],
                                      matches: bool) -> None:
    assert parse_matcher(matcher).matches(labels) is matches


def test_a_quoted_value_may_hold_escaped_quotes() -> None:
    matcher = parse_matcher(r'summary="say \"hi\""')
    assert matcher.value == 'say "hi"'
    assert matcher.matches({"summary": 'say "hi"'})


@pytest.mark.parametrize("text,words", [
    ("severity", "is not a matcher"), ('severity=="x"', "is not a matcher"),
    ('team=~"(db"', "the regular expression is invalid"),
])
def test_a_bad_matcher_says_what_is_wrong(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        parse_matcher(text)


ROUTES = """
[[route]]
matchers = ['severity="critical"', 'team=~"db|storage"']
targets = ["team:db-oncall"]
escalate_after = "10m"
escalate_to = ["user:boss"]

[[route]]
matchers = ['alertname="DiskFull"']
targets = ["conversation:19:disk@thread.tacv2"]
"""


def test_the_first_route_whose_matchers_all_match_names_the_targets() -> None:
    routing = LabelRouting(parse_routes(ROUTES))
    assert routing.targets_for(alert(severity="critical", team="db")) == ("team:db-oncall",)
    assert routing.targets_for(alert(severity="critical", team="web")) == (
        "conversation:19:disk@thread.tacv2",)  # by its alertname, the rule


def test_an_alert_no_route_matches_goes_to_the_default_audience() -> None:
    routing = LabelRouting(parse_routes(ROUTES))
    assert routing.targets_for(alert("CPUHigh", severity="warning")) is None
    assert LabelRouting().targets_for(alert()) is None


def test_a_routes_escalation_is_found_by_the_incidents_group_labels() -> None:
    routing = LabelRouting(parse_routes(ROUTES))
    escalation = routing.escalation_for("X", {"severity": "critical", "team": "storage"})
    assert escalation is not None
    assert escalation.after == 600.0 and escalation.targets == ("user:boss",)
    assert routing.escalation_for("DiskFull", {}) is None  # a route without one


def test_routes_can_be_replaced_on_reload() -> None:
    routing = LabelRouting()
    routing.update(parse_routes(ROUTES))
    assert routing.targets_for(alert()) is not None


def test_no_route_key_means_no_routes() -> None:
    assert parse_routes('[[rule]]\nname = "x"\n') == []


def test_every_problem_of_the_routes_is_reported_at_once() -> None:
    text = """
[[route]]
matchers = ['severity']
targets = []
colour = "red"

[[route]]
matchers = "severity=critical"
targets = ["pigeon:home"]
escalate_to = ["user:boss"]
"""
    with pytest.raises(ConfigError) as raised:
        parse_routes(text, "rules.toml")
    message = str(raised.value)
    assert "route #1, key 'colour': unknown key" in message
    assert "route #1, key 'matchers'" in message and "is not a matcher" in message
    assert "route #1, key 'targets': expected a non-empty list" in message
    assert "route #2, key 'matchers': expected a list of strings" in message
    assert "route #2, key 'targets'" in message and "is not a target" in message
    assert "route #2, key 'escalate_after'" in message


def test_a_rules_file_that_is_not_toml_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="rules.toml is not valid TOML"):
        parse_routes("[[route]\n", "rules.toml")
