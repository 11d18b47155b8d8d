"""Operating HeatWatch: every command of `python -m heatwatch` as a subprocess, rules hot reload
(file change, SIGHUP, a bad file, a removed rule), chat `rules` / `test` through the endpoint,
and an InfluxDB outage found at start logged once."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from common.settings import load_settings
from heatwatch.cli import COMMANDS
from heatwatch.server import SERVICES, create_app
from notifier.alerts.events import EventKind
from notifier.monitoring.engine import Reading
from notifier.monitoring.monitor import Monitor
from notifier.monitoring.rules import parse_rules
from notifier.monitoring.sources import Failure, SourceError
from storage.alert_state import AlertStateStore
from storage.database import open_database
from tests.standins.connector import ConnectorStandIn
from tests.support.delivery import alert_event, new_alert_id
from tests.support.process import ROOT, AppProcess
from tests.support.sinks import RecordingSink
from tests.support.teams import CHANNEL, PERSONAL, TeamsChannel, card_text, load_activity
from tests.support.waiting import eventually

RULES = """
[[rule]]
name = "hot-aisle"
measurement = "temperature"
warn_above = 27.0
crit_above = 32.0
for = "30s"

[[rule]]
name = "cold-aisle"
measurement = "temperature"
crit_below = 5.0
targets = ["team:19:efa9296d959346209fea44151c742e73@thread.skype"]
"""


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT,
        timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "heatwatch", *args], cwd=cwd,
                          env={"PATH": "/usr/bin:/bin", **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)


# the command line -------------------------------------------------------------------------------


def test_help_lists_every_command_and_each_has_help() -> None:
    result = cli("--help")
    assert result.returncode == 0
    for name in ("serve", "package", "install", "deliveries", "conversations", "rules",
                 "test-alert"):
        assert name in COMMANDS and f"\n  {name}" in result.stdout
    for name in COMMANDS:
        each = cli(name, "--help")
        assert each.returncode == 0 and "usage: python -m heatwatch" in each.stdout, name
    assert "check" in cli("rules", "check", "--help").stdout


def test_rules_check_exits_0_or_2_with_the_start_messages(tmp_path: Path) -> None:
    good = cli("rules", "check", str(ROOT / "rules.toml"))
    assert good.returncode == 0, good.stderr
    assert "1 valid rule(s)" in good.stdout and "server-room-temperature" in good.stdout
    bad = tmp_path / "rules.toml"
    bad.write_text('[[rule]]\nname = "a"\nmeasurement = "t"\ncrit_abov = 3\nwarn_above = "x"\n')
    result = cli("rules", "check", str(bad))
    assert result.returncode == 2
    assert "key 'crit_abov': unknown key; did you mean 'crit_above'?" in result.stderr
    assert "key 'warn_above': expected a number" in result.stderr
    assert "allowed keys are" not in result.stderr
    # the same messages as a start with that file
    start = subprocess.run([sys.executable, str(ROOT / "app.py")], cwd=tmp_path,
                           env={"PATH": "/usr/bin:/bin", "RULES_FILE": str(bad),
                                "PORT": "0"}, capture_output=True, text=True, timeout=60)
    assert start.returncode == 2
    for line in result.stderr.strip().splitlines():
        assert line.strip() in start.stderr
    # the default file is RULES_FILE
    assert cli("rules", "check", env={"RULES_FILE": str(bad)}).returncode == 2


async def registered(aiohttp_client, tmp_path: Path, connector: ConnectorStandIn) -> TestClient:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/hw.db", "MONITORING_ENABLED": "false"}
    client = await aiohttp_client(create_app(load_settings(environ=env, env_file=None)))
    teams = TeamsChannel(client, connector.url)
    for name in ("personal_bot_added", "team_bot_added", "groupchat_bot_added"):
        await teams.ok(name)
    await teams.drained()  # the three welcomes
    return client


async def test_deliveries_lists_newest_first_and_counts_honestly(
    aiohttp_client, tmp_path: Path, connector: ConnectorStandIn,
) -> None:
    client = await registered(aiohttp_client, tmp_path, connector)
    for room in ("r1", "r2", "r3"):  # three rooms: three incidents, a card each per chat
        await client.app[SERVICES].sink.publish([alert_event(
            EventKind.FIRED, new_alert_id(), series={"room": room, "sensor": "s1"})])
    await eventually(lambda: len(connector.cards()) == 6)
    await client.close()
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/hw.db"}
    dead = cli("deliveries", "--status", "dead", env=env)
    assert dead.returncode == 0
    assert dead.stdout.splitlines()[0] == "No dead deliveries."
    assert "In the outbox: done 9." in dead.stdout  # six cards and three welcomes
    listed = cli("deliveries", "--status", "done", "--limit", "2", env=env)
    lines = listed.stdout.splitlines()
    assert lines[0] == "Done deliveries: the newest 2 of 9, newest first (--limit shows more):"
    stamps = [line.split()[0] + " " + line.split()[1] for line in lines[1:3]]
    assert stamps == sorted(stamps, reverse=True)
    assert cli("deliveries", "--status", "all", env=env).stdout.startswith("Deliveries: 9,")


async def test_conversations_shows_who_would_get_each_rule(
    aiohttp_client, tmp_path: Path, connector: ConnectorStandIn,
) -> None:
    client = await registered(aiohttp_client, tmp_path, connector)
    await client.close()
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    result = cli("conversations", env={"DATABASE_URL": f"sqlite:///{tmp_path}/hw.db",
                                       "RULES_FILE": str(rules)})
    assert result.returncode == 0, result.stderr
    sections: dict[str, str] = {}
    for line in result.stdout.splitlines():
        if not line.startswith(" "):
            header = line
            sections[header] = ""
        else:
            sections[header] += line + "\n"
    hot = sections["Rule hot-aisle (to everyone): 2 conversation(s)"]
    assert PERSONAL in hot and CHANNEL in hot
    assert "personal   chat with Megan Bowen (" in hot  # names, not AAD ids
    assert "channel    team Datacenter Ops, channel " in hot
    cold = sections["Rule cold-aisle (to team:19:efa9296d959346209fea44151c742e73@thread.skype): "
                    "1 conversation(s)"]
    assert CHANNEL in cold and PERSONAL not in cold
    assert PERSONAL in sections["InfluxDB down/up alerts (everyone): 2 conversation(s)"]


async def test_conversations_shows_a_person_by_name_once_teams_sent_it(
    aiohttp_client, tmp_path: Path, connector: ConnectorStandIn,
) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/hw.db", "MONITORING_ENABLED": "false"}
    client = await aiohttp_client(create_app(load_settings(environ=env, env_file=None)))
    teams = TeamsChannel(client, connector.url)
    nameless = load_activity("personal_bot_added", connector.url)
    del nameless["from"]["name"]  # as an install event may come
    await teams.ok(nameless)
    await teams.drained()

    def personal_line() -> str:
        result = cli("conversations", env={**env, "RULES_FILE": str(ROOT / "rules.toml")})
        assert result.returncode == 0, result.stderr
        return next(line for line in result.stdout.splitlines() if PERSONAL in line)

    assert "(name not known yet: Teams sends it with their first message)" in personal_line()
    await teams.ok("message_personal", text="help")  # carries "Megan Bowen"
    await teams.drained()
    assert "chat with Megan Bowen (" in personal_line()
    await client.close()


async def test_test_alert_without_a_running_bot_sends_from_the_command(
    aiohttp_client, tmp_path: Path, connector: ConnectorStandIn,
) -> None:
    client = await registered(aiohttp_client, tmp_path, connector)
    await client.close()
    connector.clear()
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/hw.db", "PORT": "1"}
    result = await asyncio.to_thread(cli, "test-alert", "--to", f"conversation:{PERSONAL}",
                                     "--timeout", "30", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No HeatWatch answers on port 1: sending from this command" in result.stdout
    assert f"{PERSONAL}: sent" in result.stdout
    [card] = connector.cards(PERSONAL)
    content = card.body["attachments"][0]["content"]
    assert card_text(content).startswith("TEST: heatwatch-test (not a real alert)")
    assert "Nothing is wrong" in json.dumps(content)
    assert "actions" not in content  # nothing to acknowledge
    assert connector.cards(CHANNEL) == []


def test_test_alert_with_a_running_bot_is_sent_by_its_workers(
    tmp_path: Path, connector: ConnectorStandIn,
) -> None:
    from tests.operating.test_process import post

    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/hw.db", "MONITORING_ENABLED": "false"}
    app = AppProcess(env, tmp_path).start()
    try:
        assert post(app.url, load_activity("personal_bot_added", connector.url)) == 200
        connector.clear()
        result = cli("test-alert", "--timeout", "30", env={**env, "PORT": str(app.port)})
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"HeatWatch answers on port {app.port}: its delivery workers send it" \
            in result.stdout
        assert len(connector.cards(PERSONAL)) == 1
        bad = cli("test-alert", "--to", "someone", env={**env, "PORT": str(app.port)})
        assert bad.returncode == 2 and "is not a target" in bad.stderr
    finally:
        assert app.signal() == 0


# rules hot reload -------------------------------------------------------------------------------


class FakeSource:
    description = "InfluxDB (test)"

    def __init__(self) -> None:
        self.readings: dict[str, list[Reading]] = {}
        self.down = False

    async def latest(self, rule) -> list[Reading]:  # noqa: ANN001
        if self.down:
            raise SourceError(Failure.UNREACHABLE, "Cannot reach InfluxDB (test)")
        return self.readings.get(rule.name, [])

    async def close(self) -> None:
        return None


async def test_a_removed_rule_resolves_its_alerts_with_a_note(tmp_path: Path) -> None:
    database = await open_database(f"sqlite:///{tmp_path}/state.db")
    try:
        rules = parse_rules(RULES.replace('for = "30s"', ""))
        source, sink = FakeSource(), RecordingSink()
        now = datetime.now(UTC)
        source.readings = {"hot-aisle": [Reading({"room": "r1", "sensor": "s1"}, 35.0, now)],
                           "cold-aisle": [Reading({"room": "r1", "sensor": "s2"}, 2.0, now)]}
        monitor = Monitor(rules, source, AlertStateStore(database), sink, interval=1,
                          down_after=60)
        fired = await monitor.poll_once(now)
        assert sorted(e.kind for e in fired) == [EventKind.FIRED, EventKind.FIRED]
        monitor.set_rules([rules[1]])  # hot-aisle removed
        events = await monitor.poll_once(now + timedelta(seconds=1))
        [resolved] = events
        assert resolved.kind is EventKind.RESOLVED and resolved.rule == "hot-aisle"
        assert resolved.detail == "rule removed"
        assert resolved.alert_id == next(e.alert_id for e in fired if e.rule == "hot-aisle")
        assert await monitor.poll_once(now + timedelta(seconds=2)) == []
        assert {rule for rule, _ in (await AlertStateStore(database).load())} == {"cold-aisle"}

        # A restart with a rule gone from the file resolves its alerts too.
        restarted = Monitor([], source, AlertStateStore(database), sink, interval=1,
                            down_after=60)
        [gone] = await restarted.poll_once(now + timedelta(seconds=3))
        assert (gone.kind, gone.rule, gone.detail) == (EventKind.RESOLVED, "cold-aisle",
                                                       "rule removed")
    finally:
        await database.close()


async def test_an_influxdb_outage_found_at_start_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    database = await open_database(f"sqlite:///{tmp_path}/state.db")
    try:
        rules = parse_rules(RULES)
        source = FakeSource()
        source.down = True
        now = datetime.now(UTC)
        first = Monitor(rules, source, AlertStateStore(database), RecordingSink(), interval=1,
                        down_after=600)
        await first.poll_once(now)
        caplog.clear()
        with caplog.at_level(logging.DEBUG, "notifier.monitoring.monitor"):
            again = Monitor(rules, source, AlertStateStore(database), RecordingSink(),
                            interval=1, down_after=600)  # a restart, InfluxDB still down
            await again.poll_once(now + timedelta(seconds=5))
            await again.poll_once(now + timedelta(seconds=10))
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(errors) == 1, errors
        assert "Cannot reach InfluxDB (test)" in errors[0] and "before this start" in errors[0]
    finally:
        await database.close()


async def test_a_changed_rules_file_is_reloaded_and_a_bad_one_keeps_the_old_rules(
    aiohttp_client, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    from demo.processes import free_port

    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    settings = load_settings(environ={
        "DATABASE_URL": f"sqlite:///{tmp_path}/hw.db", "RULES_FILE": str(rules),
        "INFLUX_URL": f"http://127.0.0.1:{free_port()}", "POLL_INTERVAL_SECONDS": "1"},
        env_file=None)
    client = await aiohttp_client(create_app(settings))
    monitor = client.app[SERVICES].monitor
    caplog.set_level(logging.INFO, "heatwatch.reload")

    rules.write_text(RULES.replace('"hot-aisle"', '"hot-aisle-2"'))
    await eventually(lambda: [r.name for r in monitor.rules] == ["hot-aisle-2", "cold-aisle"],
                     what="the new rules in force")
    assert "added hot-aisle-2, removed hot-aisle" in caplog.text
    assert client.app[SERVICES].rules.routing._targets.keys() == {"hot-aisle-2", "cold-aisle"}
    assert client.app[SERVICES].commands._rules.keys() == {"hot-aisle-2", "cold-aisle"}

    caplog.clear()
    rules.write_text(RULES.replace("crit_above = 32.0", "crit_abve = 32.0\nwarn_below = 90"))
    await eventually(lambda: "Rules not reloaded" in caplog.text, what="the bad file refused")
    message = caplog.text
    assert "the 2 rule(s) in force stay" in message
    assert "did you mean 'crit_above'?" in message
    assert "the 'below' thresholds must be under the 'above' ones" in message
    assert [r.name for r in monitor.rules] == ["hot-aisle-2", "cold-aisle"]
    # The watcher's next look at the same (bad) file says nothing more.
    assert client.app[SERVICES].reloader.check() is False
    assert caplog.text.count("Rules not reloaded") == 1  # once per version of the file


def test_sighup_reloads_the_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/hw.db", "RULES_FILE": str(rules),
           "INFLUX_URL": "http://127.0.0.1:1", "POLL_INTERVAL_SECONDS": "1"}
    app = AppProcess(env, tmp_path).start()
    try:
        rules.write_text(RULES + RULES.replace("hot-aisle", "third").split("[[rule]]")[1]
                         .join(["[[rule]]", ""]))
        assert app.process is not None
        app.process.send_signal(signal.SIGHUP)
        app.wait_for_output("Rules reloaded (SIGHUP): ")
    finally:
        assert app.signal() == 0
    # SIGHUP re-reads the file. (Had the file watcher, every 3 s, seen the change in the
    # millisecond before the signal, SIGHUP reports it unchanged; either way the line is there.)
    assert "Rules reloaded (SIGHUP): " in app.output, app.output
    assert "3 rule(s)" in app.output and "added third" in app.output
    assert "Traceback" not in app.output


# chat -------------------------------------------------------------------------------------------


async def test_chat_rules_and_test_through_the_endpoint(
    aiohttp_client, tmp_path: Path, connector: ConnectorStandIn,
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    client = await aiohttp_client(create_app(load_settings(environ={
        "DATABASE_URL": f"sqlite:///{tmp_path}/hw.db", "MONITORING_ENABLED": "false",
        "RULES_FILE": str(rules)}, env_file=None)))
    teams = TeamsChannel(client, connector.url)
    await teams.ok("personal_bot_added")
    await teams.drained()  # the welcome
    connector.clear()

    await teams.ok("message_personal", text="rules")
    [answer] = connector.texts(PERSONAL)
    assert "**hot-aisle**: temperature.value: warning ≥ 27 °C, critical ≥ 32 °C, held 30s" \
        in answer
    assert "Not here: `cold-aisle`" in answer  # it goes to a team only

    connector.clear()
    await teams.ok("message_personal", text="test")
    await eventually(lambda: connector.cards(PERSONAL))
    assert "A test card is on its way here" in connector.texts(PERSONAL)[0]
    [card] = connector.cards(PERSONAL)
    assert card_text(card.body["attachments"][0]["content"]).startswith("TEST:")

    connector.clear()
    await teams.ok("message_personal", text="mute 1h")
    await teams.ok("message_personal", text="test")
    assert "would not get alerts now" in connector.texts(PERSONAL)[-1]
    await teams.drained()  # anything the test command queued has been sent
    assert connector.cards(PERSONAL) == []
    assert os.environ.get("METRICS_BEARER_TOKEN") is None


async def test_removing_a_firing_rule_resolves_its_cards_in_a_running_app(
    aiohttp_client, tmp_path: Path, connector: ConnectorStandIn, influxdb,  # noqa: ANN001
) -> None:
    from tests.servers.influx import ADMIN, ADMIN_PASSWORD, point

    influxdb.create_database("reload")
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES.replace('for = "30s"', ""))
    client = await aiohttp_client(create_app(load_settings(environ={
        "DATABASE_URL": f"sqlite:///{tmp_path}/hw.db", "RULES_FILE": str(rules),
        "INFLUX_URL": influxdb.url, "INFLUX_DATABASE": "reload", "INFLUX_USERNAME": ADMIN,
        "INFLUX_PASSWORD": ADMIN_PASSWORD, "POLL_INTERVAL_SECONDS": "1"}, env_file=None)))
    teams = TeamsChannel(client, connector.url)
    await teams.ok("personal_bot_added")
    await teams.drained()  # the welcome
    connector.clear()
    influxdb.write("reload", [point("r1", "s1", 35.0, int(time.time() * 1000))])
    await eventually(lambda: connector.cards(PERSONAL), timeout=20)

    rules.write_text(RULES.split("[[rule]]")[0] + "[[rule]]" + RULES.split("[[rule]]")[2])
    await eventually(lambda: connector.updates(PERSONAL), timeout=20)
    card = connector.updates(PERSONAL)[-1].body["attachments"][0]["content"]
    text = card_text(card)
    assert text.startswith("Resolved: hot-aisle") and "| rule removed |" in text
    await eventually(lambda: any(t.startswith("Resolved: **hot-aisle**")
                                 for t in connector.texts(PERSONAL)))
