"""The alert receivers through the real app: Alertmanager, Grafana and InfluxDB 2 payloads as
their documentation shows them (tests/fixtures/inbound) become incidents with one live card per
conversation (the connector stand-in); every bad input is refused with the field at fault and
nothing stored; repeats change nothing; [[route]] tables choose the audience."""

from __future__ import annotations

import base64
import copy
import json
import logging
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from common.clock import utcnow
from common.errors import ConfigError
from common.settings import load_settings
from heatwatch.server import SERVICES, create_app
from notifier.alerts.events import AlertEvent, EventKind
from notifier.alerts.routes import Route, parse_matcher, parse_routes
from notifier.alerts.routing import Escalation
from notifier.inbound.sources import RECEIVERS
from notifier.monitoring.rules import parse_rules
from storage.outbox import Outbox
from tests.standins.connector import ConnectorStandIn
from tests.support.delivery import card_of
from tests.support.process import ROOT, AppProcess
from tests.support.teams import APP_ID, CHANNEL, PERSONAL, TeamsChannel, card_text, load_activity
from tests.support.waiting import eventually, outbox_drained

FIXTURES = Path(__file__).parents[1] / "fixtures" / "inbound"
AM_TOKEN = "am-token-0123456789abcdef"
GRAFANA_TOKEN = "grafana-token-0123456789abcdef"
INFLUX_TOKEN = "influx-token-0123456789abcdef"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def receiver_env(database_url: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "MONITORING_ENABLED": "false",
            "RULES_FILE": str(ROOT / "rules.toml"), "DELIVERY_BACKOFF_SECONDS": "0.05",
            "INCIDENT_UPDATE_WINDOW_SECONDS": "0",
            "ALERTMANAGER_WEBHOOK_TOKEN": AM_TOKEN, "GRAFANA_WEBHOOK_USER": "grafana",
            "GRAFANA_WEBHOOK_PASSWORD": GRAFANA_TOKEN, "INFLUXDB_WEBHOOK_TOKEN": INFLUX_TOKEN}


@pytest.fixture
async def client(aiohttp_client, receiver_env: dict[str, str]) -> TestClient:
    return await aiohttp_client(create_app(load_settings(environ=receiver_env, env_file=None)))


@pytest.fixture
async def installed(teams: TeamsChannel, connector: ConnectorStandIn) -> TeamsChannel:
    """The bot is in a personal chat and a team (alert channel selected)."""
    for name in ("personal_bot_added", "team_bot_added"):
        await teams.ok(name)
    await teams.drained()  # the welcome(s)
    connector.clear()
    return teams


async def post(client: TestClient, receiver: str, body: Any, token: str = AM_TOKEN,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    response = await client.post(f"/api/alerts/{receiver}", data=json.dumps(body),
                                 headers={"Content-Type": "application/json",
                                          **bearer(token), **(headers or {})})
    return response.status, await response.json()


async def stored_alerts(client: TestClient) -> int:
    row = await client.app[SERVICES].database.fetch_one("SELECT COUNT(*) AS n FROM alerts")
    assert row is not None
    return int(row["n"])


def resolved(payload: dict[str, Any], *fingerprints: str) -> dict[str, Any]:
    """The notification with these alerts resolved (all when none is named)."""
    payload = copy.deepcopy(payload)
    for alert in payload["alerts"]:
        if not fingerprints or alert["fingerprint"] in fingerprints:
            alert["status"] = "resolved"
            alert["endsAt"] = "2026-11-21T10:30:00Z"
    if all(alert["status"] == "resolved" for alert in payload["alerts"]):
        payload["status"] = "resolved"
    return payload


# Alertmanager ------------------------------------------------------------------------------


async def test_an_alertmanager_group_is_one_card_per_conversation_and_resolving_updates_it(
        client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn) -> None:
    payload = fixture("alertmanager")
    status, body = await post(client, "alertmanager", payload)
    assert status == 200, body
    assert body == {"received": 2, "new": 2}
    await eventually(lambda: len(connector.sent()) == 2)
    card = card_of(connector.sent(PERSONAL)[0])
    text = card_text(card)
    assert "CRITICAL: RoomTemperatureHigh" in text
    assert "Server room 1 is too hot" in text
    assert "Room=server-room-1" in text
    assert "rack-3-inlet:9100" in text and "rack-7-inlet:9100" in text
    links = {a["title"]: a["url"] for a in card["actions"] if a["type"] == "Action.OpenUrl"}
    assert links["Runbook (runbooks.example.com)"] == "https://runbooks.example.com/room-temperature"
    assert links["Source (prometheus.example.com:9090)"].startswith("http://prometheus.example.com:9090/graph")
    verbs = [a.get("verb") for a in card["actions"]]
    assert "ack" in verbs and "snooze" in verbs
    silence_buttons = [a["title"] for block in card["body"] if block["type"] == "ActionSet"
                       for a in block["actions"]]
    assert silence_buttons == ["Silence 1 h", "Silence 24 h"]

    # The same notification again (a retry, or repeat_interval): nothing changes.
    status, body = await post(client, "alertmanager", payload)
    assert (status, body) == (200, {"received": 2, "new": 0})
    # One alert resolves: it leaves the incident; the card is updated, still open.
    status, body = await post(client, "alertmanager", resolved(payload, "b07d3c5a8e2f4d16"))
    assert (status, body["new"]) == (200, 1)
    await eventually(lambda: len(connector.updates()) == 2)
    assert "Resolved" not in card_text(card_of(connector.updates()[-1]))
    # All resolved: the card says so, and a short text follows; no new card anywhere.
    status, body = await post(client, "alertmanager", resolved(payload))
    assert (status, body["new"]) == (200, 1)
    await eventually(lambda: len(connector.updates()) == 4)
    assert all("Resolved: RoomTemperatureHigh" in card_text(card_of(u))
               for u in connector.updates()[-2:])
    await eventually(lambda: any(t.startswith("Resolved:") for t in connector.texts(PERSONAL)))
    assert len([s for s in connector.sent() if s.body.get("attachments")]) == 2
    assert await stored_alerts(client) == 1


async def test_an_alertmanager_incident_can_be_acknowledged_like_any_other(
        client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn) -> None:
    status, _ = await post(client, "alertmanager", fixture("alertmanager"))
    assert status == 200
    await eventually(lambda: len(connector.sent()) == 2)
    card = card_of(connector.sent(PERSONAL)[0])
    alert_id = next(a["data"]["alertId"] for a in card["actions"] if a.get("verb") == "ack")
    action = load_activity("card_action", connector.url,
                           replyToId=connector.sent(PERSONAL)[0].answered_id)
    action["value"]["action"]["data"]["alertId"] = alert_id
    response = await client.post("/api/messages", json=action)
    assert response.status == 200
    answer = await response.json()
    assert "Acknowledged by Megan Bowen" in card_text(answer["value"])
    await eventually(lambda: len(connector.updates()) == 2)
    assert all("Acknowledged by Megan Bowen" in card_text(card_of(u))
               for u in connector.updates())


async def test_a_new_alert_joining_the_group_updates_the_card_not_a_new_one(
        client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn) -> None:
    payload = fixture("alertmanager")
    first = copy.deepcopy(payload)
    first["alerts"] = first["alerts"][:1]
    assert (await post(client, "alertmanager", first))[0] == 200
    await eventually(lambda: len(connector.sent()) == 2)
    assert (await post(client, "alertmanager", payload))[1]["new"] == 1
    await eventually(lambda: len(connector.updates()) == 2)
    assert "rack-7-inlet:9100" in card_text(card_of(connector.updates()[-1]))
    assert len(connector.sent()) == 2


# refusals ----------------------------------------------------------------------------------


async def test_missing_or_wrong_credentials_are_refused_and_nothing_is_stored(
        client: TestClient, installed: TeamsChannel, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    body = json.dumps(fixture("alertmanager"))
    json_type = {"Content-Type": "application/json"}
    for headers in ({}, bearer("wrong-token-0123456789abcdef"), bearer(AM_TOKEN[:-1]),
                    {"Authorization": AM_TOKEN}, bearer(GRAFANA_TOKEN)):
        response = await client.post("/api/alerts/alertmanager", data=body,
                                     headers={**json_type, **headers})
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "unauthorized"
        assert "Bearer" in response.headers["WWW-Authenticate"]
    basic = base64.b64encode(b"grafana:" + GRAFANA_TOKEN.encode()).decode()
    wrong = base64.b64encode(b"grafana:nope").decode()
    grafana_body = json.dumps(fixture("grafana"))
    response = await client.post("/api/alerts/grafana", data=grafana_body,
                                 headers={**json_type, "Authorization": f"Basic {wrong}"})
    assert response.status == 401
    response = await client.post("/api/alerts/grafana", data=grafana_body,
                                 headers={**json_type, "Authorization": "Basic !!notbase64"})
    assert response.status == 401
    assert await stored_alerts(client) == 0
    response = await client.post("/api/alerts/grafana", data=grafana_body,
                                 headers={**json_type, "Authorization": f"Basic {basic}"})
    assert response.status == 200
    assert await stored_alerts(client) == 1
    assert AM_TOKEN not in caplog.text and GRAFANA_TOKEN not in caplog.text


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda p: p.pop("groupKey"), "groupKey"),
    (lambda p: p.pop("version"), "version"),
    (lambda p: p.update(version="3"), "version"),
    (lambda p: p.update(status="pending"), "status"),
    (lambda p: p.update(alerts=[]), "alerts"),
    (lambda p: p.update(alerts={"a": 1}), "alerts"),
    (lambda p: p["alerts"][1].pop("fingerprint"), "alerts[1].fingerprint"),
    (lambda p: p["alerts"][0]["labels"].update(severity=3), "alerts[0].labels.severity"),
    (lambda p: p["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
    (lambda p: p["alerts"][1].update(status="silenced"), "alerts[1].status"),
    (lambda p: p["alerts"].append("alert"), "alerts[2]"),
    (lambda p: p.update(truncatedAlerts=-1), "truncatedAlerts"),
    (lambda p: p.update(groupLabels=["room"]), "groupLabels"),
])
async def test_a_payload_missing_or_breaking_a_field_gets_400_naming_it(
        client: TestClient, mutate: Any, field: str) -> None:
    payload = fixture("alertmanager")
    mutate(payload)
    status, body = await post(client, "alertmanager", payload)
    assert status == 400
    assert body["error"]["code"] == "bad_payload"
    assert body["error"]["field"] == field
    assert field in body["error"]["message"]
    assert await stored_alerts(client) == 0


async def test_bad_json_wrong_type_and_huge_bodies_are_refused(
        aiohttp_client, receiver_env: dict[str, str]) -> None:
    client = await aiohttp_client(create_app(load_settings(
        environ={**receiver_env, "INBOUND_MAX_BYTES": "4096"}, env_file=None)))
    headers = {"Content-Type": "application/json", **bearer(AM_TOKEN)}
    for data in ("{not json", "[1, 2]", '"text"', "\xff\xfe"):
        response = await client.post("/api/alerts/alertmanager", data=data.encode("latin-1"),
                                     headers=headers)
        assert response.status == 400, data
        assert (await response.json())["error"]["code"] in ("bad_json", "bad_payload")
    response = await client.post("/api/alerts/alertmanager", data=b"version=4",
                                 headers={**headers, "Content-Type": "text/plain"})
    assert response.status == 415
    huge = fixture("alertmanager")
    huge["commonAnnotations"]["description"] = "x" * 5000
    response = await client.post("/api/alerts/alertmanager", data=json.dumps(huge),
                                 headers=headers)
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "too_large"

    async def chunks() -> Any:  # no Content-Length: the cap holds while reading
        yield json.dumps(huge).encode()

    response = await client.post("/api/alerts/alertmanager", data=chunks(), headers=headers)
    assert response.status == 413
    assert await stored_alerts(client) == 0


async def test_receivers_are_disabled_unless_configured(
        aiohttp_client, database_url: str) -> None:
    client = await aiohttp_client(create_app(load_settings(environ={
        "DATABASE_URL": database_url, "MONITORING_ENABLED": "false"}, env_file=None)))
    for name in ("alertmanager", "grafana", "influxdb"):
        status, body = await post(client, name, fixture("alertmanager"))
        assert status == 404
        assert body["error"]["code"] == "receiver_disabled"
    status, body = await post(client, "nagios", {})
    assert status == 404


async def test_a_receiver_name_no_source_has_is_one_warning_and_the_bot_still_serves(
        aiohttp_client, receiver_env: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "heatwatch.server")
    typo = "grafna-token-0123456789abcdef"
    # As the commands load them: another program's variables are not checked (a user without
    # its password, a word that is no flag) and do not stop the start.
    client = await aiohttp_client(create_app(load_settings(environ={
        **receiver_env, "GRAFNA_WEBHOOK_TOKEN": typo, "SLACK_WEBHOOK_USER": "someone-else",
        "SLACK_WEBHOOK_OPEN": "not-heatwatchs-flag"}, env_file=None, receivers=RECEIVERS)))
    [warning] = [r for r in caplog.records if r.name == "heatwatch.server"
                 and "no receiver" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert warning.getMessage() == (
        "GRAFNA_WEBHOOK_TOKEN is set but there is no receiver 'grafna' (did you mean "
        "'grafana'?); SLACK_WEBHOOK_USER, "
        "SLACK_WEBHOOK_OPEN are set but there is no receiver 'slack' (the receivers are "
        "alertmanager, grafana, influxdb): ignored.")
    assert typo not in caplog.text and "not-heatwatchs-flag" not in caplog.text
    assert set(client.app[SERVICES].receivers) == set(RECEIVERS)  # the registry's, only
    status, body = await post(client, "alertmanager", fixture("alertmanager"))
    assert (status, body) == (200, {"received": 2, "new": 2})
    status, body = await post(client, "grafna", fixture("grafana"), token=typo)
    assert status == 404 and "/api/alerts/grafana" in body["error"]["message"]


def test_the_bot_process_starts_beside_another_programs_webhook_variables(
        tmp_path: Path) -> None:
    """`python app.py` loads settings with the registry's receivers: a short token and a lone
    user under names no source has are one warning, and the real receivers serve."""
    app = AppProcess({"DATABASE_URL": f"sqlite:///{tmp_path}/hw.db",
                      "MONITORING_ENABLED": "false", "ALERTMANAGER_WEBHOOK_TOKEN": AM_TOKEN,
                      "GRAFNA_WEBHOOK_TOKEN": "typo-secret", "SLACK_WEBHOOK_USER": "slackbot"},
                     tmp_path).start()
    try:
        app.wait_for_output("there is no receiver 'slack'")
        request = urllib.request.Request(
            app.url + "/api/alerts/alertmanager", method="POST",
            data=json.dumps(fixture("alertmanager")).encode(),
            headers={"Content-Type": "application/json", **bearer(AM_TOKEN)})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert (response.status, json.load(response)) == (200, {"received": 2, "new": 2})
    finally:
        assert app.signal() == 0
    [line] = [line for line in app.output.splitlines() if "no receiver" in line]
    assert "WARNING" in line and "GRAFNA_WEBHOOK_TOKEN is set" in line, app.output
    assert "typo-secret" not in app.output


def test_open_receivers_only_in_anonymous_mode_and_tokens_must_be_long() -> None:
    settings = load_settings(environ={"ALERTMANAGER_WEBHOOK_OPEN": "true"}, env_file=None)
    assert settings.inbound.receiver("alertmanager").enabled
    with pytest.raises(ConfigError, match="ALERTMANAGER_WEBHOOK_OPEN=true is only allowed"):
        load_settings(environ={"MicrosoftAppId": APP_ID, "MicrosoftAppPassword": "x",
                               "MicrosoftAppTenantId": "t",
                               "ALERTMANAGER_WEBHOOK_OPEN": "true"}, env_file=None)
    with pytest.raises(ConfigError, match="GRAFANA_WEBHOOK_TOKEN is shorter"):
        load_settings(environ={"GRAFANA_WEBHOOK_TOKEN": "short"}, env_file=None)
    with pytest.raises(ConfigError, match="INFLUXDB_WEBHOOK_USER and INFLUXDB_WEBHOOK_PASSWORD"):
        load_settings(environ={"INFLUXDB_WEBHOOK_USER": "influx"}, env_file=None)
    with pytest.raises(ConfigError, match="ALERTMANAGER_URL is empty"):
        load_settings(environ={"ALERTMANAGER_API_TOKEN": "am-api-token"}, env_file=None)
    settings = load_settings(environ={"ALERTMANAGER_API_TOKEN": "am-api-token",
                                      "ALERTMANAGER_URL": "http://127.0.0.1:9093/"},
                             env_file=None)
    assert settings.inbound.alertmanager_url == "http://127.0.0.1:9093"
    assert "am-api-token" in settings.secrets()
    settings = load_settings(environ={"INFLUXDB_WEBHOOK_TOKEN": INFLUX_TOKEN}, env_file=None)
    assert INFLUX_TOKEN in settings.secrets()
    assert INFLUX_TOKEN not in repr(settings)


# Grafana and InfluxDB ----------------------------------------------------------------------


async def test_a_grafana_notification_is_a_card_with_grafanas_silence_link(
        client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn) -> None:
    status, body = await post(client, "grafana", fixture("grafana"), headers={
        "Authorization": "Basic " + base64.b64encode(
            b"grafana:" + GRAFANA_TOKEN.encode()).decode()})
    assert (status, body) == (200, {"received": 2, "new": 2})
    await eventually(lambda: len(connector.sent()) == 2)
    card = card_of(connector.sent(CHANNEL)[0])
    text = card_text(card)
    assert "Warning: My Super Webhook" in text
    assert "High memory usage" in text and "High CPU usage" in text
    links = {a["title"]: a["url"] for a in card["actions"] if a["type"] == "Action.OpenUrl"}
    assert links["Silence (play.grafana.org)"].startswith("https://play.grafana.org/alerting/silence/new?")
    assert links["Runbook (myrunbook.com)"] == "https://myrunbook.com/runbook/1234"
    assert not [b for b in card["body"] if b["type"] == "ActionSet"]  # no Alertmanager silence
    grafana_auth = {"Authorization": "Basic " + base64.b64encode(
        b"grafana:" + GRAFANA_TOKEN.encode()).decode()}
    payload = resolved(fixture("grafana"))
    bad = copy.deepcopy(payload)
    bad["alerts"][0]["values"]["B"] = "high"
    assert (await post(client, "grafana", bad, headers=grafana_auth))[1]["error"]["field"] == \
        "alerts[0].values.B"
    assert (await post(client, "grafana", payload, headers=grafana_auth))[0] == 200
    await eventually(lambda: len(connector.updates()) == 2)
    assert "Resolved: My Super Webhook" in card_text(card_of(connector.updates()[-1]))


async def test_an_influxdb_check_status_is_a_card_and_ok_resolves_it(
        client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn) -> None:
    row = fixture("influxdb")
    status, body = await post(client, "influxdb", row, token=INFLUX_TOKEN)
    assert (status, body) == (200, {"received": 1, "new": 1})
    await eventually(lambda: len(connector.sent()) == 2)
    text = card_text(card_of(connector.sent(PERSONAL)[0]))
    assert "CRITICAL: Rack inlet temperature" in text
    assert "Check: Rack inlet temperature is: crit" in text
    assert "Sensor=rack-3-inlet" in text and "Value=33.1" in text
    # Replayed: nothing changes.
    assert (await post(client, "influxdb", row, token=INFLUX_TOKEN))[1]["new"] == 0
    for field, value in (("_level", "bad"), ("_check_id", None), ("_status_timestamp", "then"),
                         ("_message", 5)):
        broken = {**row, field: value} if value is not None else {
            k: v for k, v in row.items() if k != field}
        status, body = await post(client, "influxdb", broken, token=INFLUX_TOKEN)
        assert status == 400 and body["error"]["field"] == field
    ok = {**row, "_level": "ok", "_status_timestamp": row["_status_timestamp"] + 60 * 10**9,
          "value": 24.0, "_message": "Check: Rack inlet temperature is: ok"}
    assert (await post(client, "influxdb", ok, token=INFLUX_TOKEN))[1]["new"] == 1
    await eventually(lambda: len(connector.updates()) == 2)
    assert "Resolved: Rack inlet temperature" in card_text(card_of(connector.updates()[-1]))


# routes ------------------------------------------------------------------------------------


def labels_match(matcher: str, labels: dict[str, str]) -> bool:
    return parse_matcher(matcher).matches(labels)


def test_matchers_are_alertmanagers() -> None:
    labels = {"severity": "critical", "team": "db", "room": "server-room-1"}
    assert labels_match('severity="critical"', labels)
    assert not labels_match('severity="warning"', labels)
    assert labels_match('severity!="warning"', labels)
    assert not labels_match('severity!="critical"', labels)
    assert labels_match('team=~"db|storage"', labels)
    assert not labels_match('team=~"d"', labels)  # fully anchored
    assert not labels_match('room=~"server"', labels)
    assert labels_match('room=~"server-.*"', labels)
    assert labels_match('team!~"web|app"', labels)
    assert not labels_match('team!~"d.*"', labels)
    # A missing label is the empty string.
    assert labels_match('owner=""', labels)
    assert labels_match('owner!~".+"', labels)
    assert not labels_match('owner=~".+"', labels)
    assert labels_match("team = db", labels)  # unquoted, with spaces
    assert labels_match(r'room="server-room-1"', labels)
    for bad in ("severity", 'severity=="x"', '="x"', 'team=~"("', "1abc=x"):
        with pytest.raises(ValueError):
            parse_matcher(bad)


def test_route_tables_are_validated_with_the_rules() -> None:
    rules = (ROOT / "rules.toml").read_text()
    good = rules + '\n[[route]]\nmatchers = [\'severity="critical"\']\ntargets = ["team:T1"]\n'
    assert parse_rules(good, "rules.toml")
    assert parse_routes(good)[0].targets == ("team:T1",)
    escalating = good + 'escalate_after = "15m"\nescalate_to = ["user:u1"]\n'
    assert parse_routes(escalating)[0].escalation == Escalation(900.0, ("user:u1",))
    bad = rules + ('\n[[route]]\nmatchers = [\'team=~"("\']\ntargets = ["room:1"]\nsend = 1\n'
                   "\n[[route]]\nmatchers = 'x'\n"
                   '\n[[route]]\ntargets = ["team:T1"]\nescalate_to = ["user:u1"]\n')
    with pytest.raises(ConfigError) as raised:
        parse_rules(bad, "rules.toml")
    message = str(raised.value)
    assert "route #1, key 'matchers': 'team=~\"(\"': the regular expression is invalid" in message
    assert "route #1, key 'targets': 'room:1' is not a target" in message
    assert "route #1, key 'send': unknown key" in message
    assert "route #2, key 'matchers': expected a list of strings" in message
    assert "route #2, key 'targets': expected a non-empty list" in message
    assert "route #3, key 'escalate_after': say after how long" in message
    with pytest.raises(ConfigError):
        parse_routes(bad)
    # Routes alone (receivers only, no monitoring) are a valid file; nothing at all is not.
    only_routes = '[[route]]\nmatchers = []\ntargets = ["user:u1"]\n'
    assert parse_rules(only_routes, "rules.toml") == []
    assert parse_routes(only_routes)[0].matches({"anything": "x"})
    with pytest.raises(ConfigError, match="no rules"):
        parse_rules("", "rules.toml")


def event(labels: dict[str, str], rule: str = "RoomTemperatureHigh") -> AlertEvent:
    from datetime import UTC, datetime
    return AlertEvent(kind=EventKind.FIRED, rule=rule, alert_id="a", at=datetime.now(UTC),
                      series=labels, source="alertmanager")


def test_the_first_matching_route_wins_else_the_default() -> None:
    from notifier.alerts.routes import LabelRouting
    routing = LabelRouting([
        Route((parse_matcher('severity="critical"'), parse_matcher('team=~"db|storage"')),
              ("team:db",)),
        Route((parse_matcher('severity="critical"'),), ("user:oncall",)),
        Route((parse_matcher('alertname="DiskFull"'),), ("conversation:c1",)),
    ])
    assert routing.targets_for(event({"severity": "critical", "team": "db"})) == ("team:db",)
    assert routing.targets_for(event({"severity": "critical", "team": "web"})) == \
        ("user:oncall",)
    assert routing.targets_for(event({"severity": "warning"}, "DiskFull")) == \
        ("conversation:c1",)
    assert routing.targets_for(event({"severity": "warning"})) is None


async def routed(aiohttp_client: Any, receiver_env: dict[str, str], rules: Path, text: str,
                 connector: ConnectorStandIn) -> TestClient:
    """An app with the rules file `text`, in a personal chat and a team, after the fixture's
    Alertmanager notification reached the one conversation its route names."""
    rules.write_text(text)
    client = await aiohttp_client(create_app(load_settings(
        environ={**receiver_env, "RULES_FILE": str(rules)}, env_file=None)))
    teams = TeamsChannel(client, connector.url)
    for name in ("personal_bot_added", "team_bot_added"):
        await teams.ok(name)
    await teams.drained()  # the welcomes
    connector.clear()
    assert (await post(client, "alertmanager", fixture("alertmanager")))[0] == 200
    await eventually(lambda: len(connector.sent()) == 1)
    return client


async def test_a_route_sends_the_card_only_to_its_targets_and_reloads_with_the_rules(
        aiohttp_client, receiver_env: dict[str, str], tmp_path: Path,
        connector: ConnectorStandIn) -> None:
    rules = tmp_path / "rules.toml"
    base = (ROOT / "rules.toml").read_text()
    route = ('\n[[route]]\nmatchers = [\'room="server-room-1"\']\n'
             'targets = ["team:19:efa9296d959346209fea44151c742e73@thread.skype"]\n')
    client = await routed(aiohttp_client, receiver_env, rules, base + route, connector)
    await outbox_drained(client.app)  # everything the alert planned has been sent
    assert [s.conversation_id for s in connector.sent()] == [CHANNEL]
    # A route table changed alone is reloaded too.
    rules.write_text(base + route.replace("server-room-1", "server-room-2"))
    reloader = client.app[SERVICES].reloader
    assert reloader is not None
    reloader.check("test")
    assert client.app[SERVICES].rules.labels.routes[0].matchers[0].value == "server-room-2"
    assert await Outbox(client.app[SERVICES].database).counts()


async def test_a_route_escalates_an_unacknowledged_critical_incident_like_a_rule(
        aiohttp_client, receiver_env: dict[str, str], tmp_path: Path,
        connector: ConnectorStandIn) -> None:
    client = await routed(aiohttp_client, receiver_env, tmp_path / "rules.toml", (
        (ROOT / "rules.toml").read_text() + '\n[[route]]\nmatchers = [\'room="server-room-1"\']\n'
        'targets = ["team:19:efa9296d959346209fea44151c742e73@thread.skype"]\n'
        'escalate_after = "10m"\nescalate_to = ["user:c33aafc4-646d-4543-9d4c-abd28e4d2110"]\n'),
        connector)
    teams = TeamsChannel(client, connector.url)
    escalator = client.app[SERVICES].escalator

    assert await escalator.check(utcnow() + timedelta(minutes=5)) == 0
    assert await escalator.check(utcnow() + timedelta(minutes=11)) == 1
    await teams.drained()
    [card] = connector.cards(PERSONAL)  # the person named by escalate_to
    assert "CRITICAL: RoomTemperatureHigh" in card_text(card_of(card))
    assert any(text.startswith("Escalated: nobody acknowledged")
               for text in connector.texts(PERSONAL))
    assert await escalator.check(utcnow() + timedelta(minutes=30)) == 0  # once


async def test_notifications_are_counted_by_outcome_and_storage_trouble_is_a_503(
        client: TestClient, installed: TeamsChannel) -> None:
    from heatwatch.observability import METRICS

    payload = fixture("alertmanager")
    assert (await post(client, "alertmanager", payload))[0] == 200
    assert (await post(client, "alertmanager", payload))[0] == 200
    assert (await post(client, "alertmanager", payload, token=INFLUX_TOKEN))[0] == 401
    assert (await post(client, "alertmanager", {"version": "4"}))[0] == 400
    await client.app[SERVICES].database.execute("DROP TABLE inbound_seen")
    status, body = await post(client, "alertmanager", resolved(payload))
    assert (status, body["error"]["code"]) == (503, "unavailable")
    registry = client.app[METRICS].registry

    def count(outcome: str, receiver: str = "alertmanager") -> float | None:
        return registry.get_sample_value("heatwatch_inbound_notifications_total",
                                         {"receiver": receiver, "outcome": outcome})

    assert [count(o) for o in ("accepted", "duplicate", "unauthorized", "invalid", "failed",
                               "too_large")] == [1, 1, 1, 1, 1, 0]
    assert count("accepted", "grafana") == 0


async def test_bad_silence_buttons_get_a_proper_answer(
        client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn) -> None:
    assert (await post(client, "influxdb", fixture("influxdb"), token=INFLUX_TOKEN))[0] == 200
    await eventually(lambda: len(connector.sent()) == 2)
    card = card_of(connector.sent(PERSONAL)[0])
    alert_id = next(a["data"]["alertId"] for a in card["actions"] if a.get("verb") == "ack")

    async def press(verb: str, data: dict[str, Any]) -> dict[str, Any]:
        action = load_activity("card_action", connector.url,
                               replyToId=connector.sent(PERSONAL)[0].answered_id)
        action["value"]["action"].update(verb=verb, data=data)
        response = await client.post("/api/messages", json=action)
        assert response.status == 200
        return dict(await response.json())

    answer = await press("silence", {"alertId": alert_id, "hours": 1000})
    assert answer["statusCode"] == 400 and "1 to 168 hours" in answer["value"]["message"]
    answer = await press("silence", {"alertId": alert_id, "hours": 1})
    assert "Only alerts from Alertmanager can be silenced here." in card_text(answer["value"])
    answer = await press("expire-silence", {"alertId": alert_id})
    assert "There is no silence to expire." in card_text(answer["value"])
    answer = await press("silence", {"alertId": "0" * 16, "hours": 1})
    assert answer["value"] == "No alert `0000000000000000` found here."


async def test_long_texts_are_cut_to_fit_a_card(
        client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn) -> None:
    payload = fixture("alertmanager")
    payload["alerts"] = payload["alerts"][:1]
    payload["commonAnnotations"]["summary"] = "Too hot. " * 2000
    assert (await post(client, "alertmanager", payload))[0] == 200
    await eventually(lambda: len(connector.sent()) == 2)
    card = card_of(connector.sent(PERSONAL)[0])
    [description] = [b["text"] for b in card["body"][0]["items"][1:]]
    assert len(description) == 1500 and description.endswith("…")
    assert len(json.dumps(card)) < 28 * 1024
