"""The source registry (notifier/inbound/sources.py) agrees with the few places below it that
must name the push sources without importing it: the settings' receiver names, the metrics'
receiver labels and the alert core's silenceable sources."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from common.metrics import INBOUND_RECEIVERS
from common.settings import RECEIVERS, load_settings
from heatwatch.reload import Rules, RulesFile, read_rules_file
from notifier.alerts.events import INFLUXDB, SILENCEABLE_SOURCES, AlertEvent, EventKind
from notifier.inbound.sources import PUSH_SOURCES, receiver_paths


def test_every_push_source_is_registered_once_with_its_receiver_settings() -> None:
    receivers = tuple(source.receiver for source in PUSH_SOURCES)
    assert receivers == RECEIVERS == INBOUND_RECEIVERS
    sources = [source.source for source in PUSH_SOURCES]
    assert len(set(sources)) == len(sources) and INFLUXDB not in sources
    settings = load_settings(environ={}, env_file=None)
    assert set(settings.inbound.receivers) == set(receivers)


def test_what_a_sources_incidents_can_do_matches_the_alert_core() -> None:
    assert {source.source for source in PUSH_SOURCES if source.silence} == SILENCEABLE_SOURCES


def test_the_unknown_receiver_answer_names_every_receiver() -> None:
    text = receiver_paths()
    assert all(f"/api/alerts/{source.receiver}" in text for source in PUSH_SOURCES)


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
