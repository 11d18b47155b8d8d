"""Invalid rules fail at start, naming the rule, the key and the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from common.durations import parse_duration
from common.errors import ConfigError
from notifier.monitoring.rules import load_rules, parse_rules
from tests.process import ROOT


def test_shipped_rules_file_is_valid() -> None:
    [rule] = load_rules(ROOT / "rules.toml")
    assert rule.name == "server-room-temperature"
    assert (rule.warn_above, rule.crit_above, rule.hysteresis) == (27.0, 32.0, 1.0)
    assert (rule.pending, rule.no_data, rule.repeat) == (30.0, 300.0, 3600.0)


@pytest.mark.parametrize("text,seconds", [("250ms", 0.25), ("30s", 30), ("5m", 300),
                                          ("1h30m", 5400), ("1d", 86400), (45, 45),
                                          ("0", 0), ("90", 90)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "body,expected",
    [
        ('name = "a"\nmeasurement = "t"\ncrit_above = "hot"',
         "rule 'a', key 'crit_above': expected a number"),
        ('name = "a"\nmeasurement = "t"', "rule 'a', key 'crit_above': set at least one of"),
        ('name = "a"\ncrit_above = 3', "rule 'a', key 'measurement': name the InfluxDB"),
        ('name = "a"\nmeasurement = "t"\nwarn_above = 30\ncrit_above = 20',
         "crit_above (20.0) must be at least warn_above (30.0)"),
        ('name = "a"\nmeasurement = "t"\ncrit_above = 3\nfor = "soon"',
         "rule 'a', key 'for': expected a duration"),
        ('name = "a"\nmeasurement = "t"\ncrit_above = 3\nescalate_to = ["user:x"]',
         "rule 'a', key 'escalate_after': say after how long"),
        ('name = "a"\nmeasurement = "t"\ncrit_above = 3\nescalate_after = "10m"',
         "rule 'a', key 'escalate_to': name who is told"),
        ('name = "a"\nmeasurement = "t"\ncrit_above = 3\nescalate_after = "10m"\n'
         'escalate_to = ["bob"]', "rule 'a', key 'escalate_to': 'bob' is not a target"),
        ('name = "a"\nmeasurement = "t"\ncrit_above = 3\nthreshold = 4',
         "rule 'a', key 'threshold': unknown key"),
        ('name = "a"\nmeasurement = "t"\ncrit_above = 3\nwhere = ["x"]',
         "rule 'a', key 'where': expected a table"),
        ('measurement = "t"\ncrit_above = 3', "rule '#1', key 'name': every rule needs a name"),
    ],
)
def test_invalid_rules_name_rule_key_and_fix(body: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_rules("[[rule]]\n" + body, "rules.toml")
    assert expected in str(raised.value)


def test_duplicate_names_and_empty_files_are_refused() -> None:
    rule = '[[rule]]\nname = "a"\nmeasurement = "t"\ncrit_above = 3\n'
    with pytest.raises(ConfigError, match="'a' is used twice"):
        parse_rules(rule + rule)
    with pytest.raises(ConfigError, match="no rules"):
        parse_rules("")
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_rules("[[rule]\n")


def test_app_refuses_to_start_with_invalid_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "hot"\nmeasurement = "t"\ncrit_above = "x"\n')
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py")], cwd=tmp_path, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "RULES_FILE": str(rules), "PORT": "0"}, timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "rule 'hot', key 'crit_above': expected a number" in result.stderr
    assert "Traceback" not in result.stderr
