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
        ('name = "a"\nmeasurement = "t"\nrise_warn = "fast"',
         "rule 'a', key 'rise_warn': expected degrees per duration, like rise_warn = \"5/15m\""),
        ('name = "a"\nmeasurement = "t"\nrise_warn = "5/0s"', "key 'rise_warn': expected"),
        ('name = "a"\nmeasurement = "t"\nrise_warn = "5/15m"\nrise_crit = "1/15m"',
         "key 'rise_crit': 0.0667/min is slower than rise_warn"),
        ('name = "a"\nmeasurement = "t"\nwarn_above = 3\nforecast_within = "10m"',
         "key 'forecast_within': a forecast needs crit_above or crit_below"),
        ('name = "a"\nmeasurement = "t"\npreset = "ashrae-b9"',
         "key 'preset': unknown preset 'ashrae-b9'; one of ashrae-a1, ashrae-a2"),
        ('name = "a"\nmeasurement = "t"\ncrit_above = 3\nplausible = [80, -20]',
         "key 'plausible': expected [lowest, highest]"),
    ],
)
def test_invalid_rules_name_rule_key_and_fix(body: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_rules("[[rule]]\n" + body, "rules.toml")
    assert expected in str(raised.value)


def test_a_preset_sets_ashrae_limits_and_any_key_overrides_it() -> None:
    a1, a3 = parse_rules("""
[[rule]]
name = "a1"
measurement = "t"
preset = "ashrae-a1"
[[rule]]
name = "a3"
measurement = "t"
preset = "ashrae-a3"
warn_above = 30.0
rise_warn = "5/1h"
""")
    assert (a1.warn_above, a1.crit_above, a1.unit) == (27.0, 32.0, "°C")
    assert a1.rise_warn is not None and a1.rise_warn.per_minute == pytest.approx(1 / 3)
    assert a1.rise_crit is not None and a1.rise_crit.per_minute == pytest.approx(1.0)
    assert (a3.warn_above, a3.crit_above) == (30.0, 40.0)
    assert a3.rise_warn is not None and a3.rise_warn.per_minute == pytest.approx(5 / 60)
    assert a1.plausible == (-20.0, 80.0) and a1.stuck_after == 1800.0


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
