"""The source registry (notifier/inbound/sources.py) is the one place that names the push
sources' receivers: the metrics' receiver labels and the documented receivers come from it,
settings read any receiver's variables without a list of names (a new source needs no change
there), and the alert core's silenceable sources agree with it. (That the app serves exactly
these receivers and warns about other names: tests/inbound/test_receivers.py.)"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from common.errors import ConfigError
from common.metrics import Metrics
from common.settings import load_settings
from heatwatch.reload import Rules, RulesFile, read_rules_file
from heatwatch.settingsdoc import CONFIGURATION, ENV_EXAMPLE
from notifier.alerts.events import INFLUXDB, SILENCEABLE_SOURCES, AlertEvent, EventKind
from notifier.inbound.sources import PUSH_SOURCES, RECEIVERS, receiver_paths, unknown_receivers


def test_every_push_source_is_registered_once_under_a_name_its_variables_can_spell() -> None:
    assert RECEIVERS == tuple(source.receiver for source in PUSH_SOURCES)
    assert len(set(RECEIVERS)) == len(RECEIVERS)
    assert all(re.fullmatch("[a-z0-9]+", name) for name in RECEIVERS)  # NAME_WEBHOOK_TOKEN
    sources = [source.source for source in PUSH_SOURCES]
    assert len(set(sources)) == len(sources) and INFLUXDB not in sources


def test_the_metrics_label_the_registrys_receivers_and_count_no_other() -> None:
    metrics = Metrics("test", RECEIVERS)
    metrics.inbound("grafna", "accepted")

    def labelled(metrics: Metrics) -> set[str]:
        return {sample.labels["receiver"] for family in metrics.registry.collect()
                if family.name == "heatwatch_inbound_notifications"
                for sample in family.samples}

    assert labelled(metrics) == set(RECEIVERS)
    assert labelled(Metrics()) == set()


def test_the_docs_list_the_registrys_receivers() -> None:
    page = CONFIGURATION.read_text(encoding="utf-8")
    example = ENV_EXAMPLE.read_text(encoding="utf-8")
    for name in RECEIVERS:
        assert f"`{name.upper()}`" in page
        for variable in ("TOKEN", "USER", "PASSWORD", "OPEN"):
            assert re.search(rf"^# {name.upper()}_WEBHOOK_{variable}=", example, re.M), name


def test_settings_read_a_receiver_of_any_name_and_check_it_like_the_others() -> None:
    """What a fourth source's receiver gets without a change to settings."""
    token = "nagios-token-0123456789"
    inbound = load_settings(environ={"NAGIOS_WEBHOOK_TOKEN": token, "GRAFANA_WEBHOOK_OPEN":
                                     "true", "ALERTMANAGER_WEBHOOK_TOKEN": " "},
                            env_file=None).inbound
    assert set(inbound.receivers) == {"nagios", "grafana"}  # a blank value is unset
    assert inbound.receiver("nagios").token == token and inbound.receiver("grafana").open
    assert not inbound.receiver("alertmanager").enabled
    assert unknown_receivers(inbound) == (
        "NAGIOS_WEBHOOK_TOKEN is set but there is no receiver 'nagios' (the receivers are "
        f"{', '.join(RECEIVERS)}): ignored.")
    assert token not in unknown_receivers(inbound)
    known = load_settings(environ={"GRAFANA_WEBHOOK_OPEN": "true"}, env_file=None).inbound
    assert unknown_receivers(known) == ""


BAD = {"NAGIOS_WEBHOOK_TOKEN": "short", "NAGIOS_WEBHOOK_USER": "n",
       "GRAFANA_WEBHOOK_TOKEN": "short", "nagios_webhook_token": "lower case is no receiver"}


def test_every_name_is_checked_unless_the_receivers_are_named_then_only_theirs() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ=BAD, env_file=None)
    message = str(raised.value)
    assert "NAGIOS_WEBHOOK_TOKEN is shorter than 16 characters" in message
    assert "NAGIOS_WEBHOOK_USER and NAGIOS_WEBHOOK_PASSWORD go together" in message
    with pytest.raises(ConfigError) as raised:  # how the commands load settings
        load_settings(environ=BAD, env_file=None, receivers=RECEIVERS)
    message = str(raised.value)
    assert "NAGIOS" not in message and "GRAFANA_WEBHOOK_TOKEN is shorter" in message
    inbound = load_settings(environ={**BAD, "GRAFANA_WEBHOOK_TOKEN": "t" * 16},
                            env_file=None, receivers=RECEIVERS).inbound
    assert not inbound.receiver("nagios").enabled  # its values are not even read
    assert unknown_receivers(inbound).startswith(
        "NAGIOS_WEBHOOK_TOKEN, NAGIOS_WEBHOOK_USER are set but there is no receiver 'nagios'")


def test_what_a_sources_incidents_can_do_matches_the_alert_core() -> None:
    assert {source.source for source in PUSH_SOURCES if source.silence} == SILENCEABLE_SOURCES


def test_the_unknown_receiver_answer_names_every_receiver() -> None:
    text = receiver_paths()
    assert all(f"/api/alerts/{name}" in text for name in RECEIVERS)


RULE_TARGET = "user:0f1e2d3c-0000-4000-8000-000000000001"
ROUTE_TARGET = "user:0f1e2d3c-0000-4000-8000-000000000002"


def test_the_monitoring_routes_by_its_rules_and_every_push_source_by_the_routes(
        tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(f'''[[rule]]
name = "hot"
measurement = "temperature"
crit_above = 30.0
targets = ["{RULE_TARGET}"]

[[route]]
matchers = ['room="r1"']
targets = ["{ROUTE_TARGET}"]
''')
    router = Rules.of(read_rules_file(path)).sources()

    def targets(source: str) -> tuple[str, ...] | None:
        return router.targets_for(AlertEvent(kind=EventKind.FIRED, rule="hot", alert_id="a",
                                             at=datetime.now(UTC), series={"room": "r1"},
                                             source=source))

    assert targets(INFLUXDB) == (RULE_TARGET,)
    for push in PUSH_SOURCES:
        assert targets(push.source) == (ROUTE_TARGET,), push.receiver
    assert Rules.of(RulesFile()).sources().targets_for(AlertEvent(
        kind=EventKind.FIRED, rule="x", alert_id="a", at=datetime.now(UTC))) is None
