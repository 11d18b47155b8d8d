"""The welcome names what the rules watch, in the words an operator uses."""

from __future__ import annotations

from notifier.alerts.rulesfile import parse_document
from notifier.chat.welcome import greeting, watching
from notifier.monitoring.rules import rules_of

RULES = """
[[rule]]
name = "inlet"
measurement = "temperature"
field = "value"
warn_above = 27.0
crit_above = 32.0

[[rule]]
name = "moisture"
measurement = "temperature"
dew_point = { temperature = "value", humidity = "rh" }
warn_above = 15.0
crit_above = 17.0

[[rule]]
name = "humidity"
measurement = "climate"
field = "relative_humidity"
warn_above = 60.0
crit_above = 70.0
"""


def test_the_welcome_names_each_quantity_once_and_a_dew_point_rule_as_dew_point() -> None:
    rules = rules_of(parse_document(RULES), "rules.toml")
    what = watching(rules + rules)
    assert what.quantities == ("temperature", "dew point", "relative humidity")
    assert "I watch the temperature, dew point and relative humidity readings" in greeting(what)
