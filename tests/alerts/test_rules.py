"""Invalid rules fail at start, naming the rule, the key and the fix."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from common.durations import parse_duration
from common.errors import ConfigError
from notifier.alerts.events import AlertEvent, EventKind
from notifier.monitoring.rules import RuleRouting, load_rules, parse_rules
from tests.support.process import ROOT


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
        ('name = "a"\nmeasurement = "t"\ncrit_above = 3\nprobe_faults_to = ["bob"]',
         "rule 'a', key 'probe_faults_to': 'bob' is not a target"),
        ('name = "a"\nmeasurement = "t"\ncrit_above = 3\nprobe_faults_to = ["oncall:dc"]',
         "rule 'a': 'oncall:dc' names no [[schedule]]"),
        ('name = "a"\nmeasurement = "t"\ncrit_above = 3\nno_data = "10m"\nforget_after = "15m"',
         "rule 'a', key 'forget_after': must be \"0\" (never) or at least twice no_data and 10 "
         "minutes (1200s)"),
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


def test_probe_faults_to_takes_targets_and_routes_only_probe_notices() -> None:
    [rule] = parse_rules("""
[[rule]]
name = "a"
measurement = "t"
crit_above = 30
targets = ["team:19:abc@thread.skype"]
probe_faults_to = ["user:c33aafc4-646d-4543-9d4c-abd28e4d2110", "conversation:19:x@thread.v2"]
""")
    assert rule.probe_faults_to == ("user:c33aafc4-646d-4543-9d4c-abd28e4d2110",
                                    "conversation:19:x@thread.v2")
    routing = RuleRouting([rule])
    at = datetime(2026, 12, 6, tzinfo=UTC)
    notice = AlertEvent(kind=EventKind.PROBE_NOTICE, rule="a", alert_id="x", at=at)
    fired = AlertEvent(kind=EventKind.FIRED, rule="a", alert_id="y", at=at)
    assert routing.targets_for(notice) == rule.probe_faults_to
    assert routing.targets_for(fired) == ("team:19:abc@thread.skype",)
    [plain] = parse_rules('[[rule]]\nname = "a"\nmeasurement = "t"\ncrit_above = 30')
    assert RuleRouting([plain]).targets_for(notice) is None  # nobody, not everyone


@pytest.mark.parametrize("preset,limits", [
    # ASHRAE TC 9.9 reference card, 2021 (Thermal Guidelines, 5th ed., Table 2.1 and 2.2):
    # warning at the recommended upper limit, critical at the class's allowable upper limit.
    ("ashrae-a1", (27.0, 32.0)), ("ashrae-a2", (27.0, 35.0)), ("ashrae-a3", (27.0, 40.0)),
    ("ashrae-a4", (27.0, 45.0)), ("ashrae-h1", (22.0, 25.0)),
])
def test_every_preset_has_the_reference_cards_limits(preset: str,
                                                     limits: tuple[float, float]) -> None:
    [rule] = parse_rules(f'[[rule]]\nname = "a"\nmeasurement = "t"\npreset = "{preset}"')
    assert (rule.warn_above, rule.crit_above) == limits
    assert rule.rise_warn is not None and rule.rise_warn.per_minute == pytest.approx(1 / 3)


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
