"""`python app.py` as users run it: starts, survives a restart, stops cleanly on signals."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from notifier.chat.welcome import Watching, welcome_text
from storage.database import open_database
from storage.models import Scope
from storage.registry import ConversationRegistry
from tests.servers.postgres import PostgresServer
from tests.standins.connector import ConnectorStandIn, Fault
from tests.support.process import ROOT, AppProcess
from tests.support.teams import PERSONAL, TENANT, load_activity
from tests.support.waiting import wait_until


def post(url: str, activity: dict) -> int:
    request = urllib.request.Request(
        url + "/api/messages", data=json.dumps(activity).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_registry_survives_restart_and_welcome_is_not_repeated(
    tmp_path: Path, connector: ConnectorStandIn, sig: int
) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/hw.db", "MONITORING_ENABLED": "false"}
    first = AppProcess(env, tmp_path).start()
    assert post(first.url, load_activity("personal_bot_added", connector.url)) == 200
    wait_until(lambda: connector.texts(PERSONAL))  # the welcome, sent by the workers
    assert first.signal(sig) == 0
    assert "HeatWatch stopped" in first.output
    assert "Traceback" not in first.output
    assert "Anonymous local mode" in first.output and "127.0.0.1 only" in first.output

    second = AppProcess(env, tmp_path).start()
    assert post(second.url, load_activity("personal_bot_added", connector.url)) == 200
    assert second.signal() == 0

    assert len(connector.texts(PERSONAL)) == 1  # one welcome across both runs
    database = await open_database(env["DATABASE_URL"])
    try:
        stored = await ConversationRegistry(database).get_conversation(TENANT, PERSONAL)
    finally:
        await database.close()
    assert stored is not None and stored.reference["serviceUrl"] == connector.url


def test_a_real_app_refuses_bad_activities_and_welcomes_once_after_an_outage(
    tmp_path: Path, connector: ConnectorStandIn
) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/hw.db", "MONITORING_ENABLED": "false"}
    app = AppProcess(env, tmp_path).start()
    try:
        headless = load_activity("personal_bot_added", connector.url)
        del headless["conversation"]
        foreign = load_activity("personal_bot_added", "https://smba.trafficmanager.net/teams/")
        assert post(app.url, headless) == 400
        assert post(app.url, foreign) == 400
        connector.faults.append(Fault(status=0, times=2))  # the connector is down for a while
        install = load_activity("install_add_personal", connector.url)
        assert post(app.url, install) == 200
        assert post(app.url, install) == 200  # Teams re-sends it
        wait_until(lambda: connector.texts(PERSONAL))
    finally:
        assert app.signal() == 0
    # Committed: the re-sent install queued no second welcome, and the one queued was sent.
    with contextlib.closing(sqlite3.connect(tmp_path / "hw.db")) as database:
        rows = database.execute("SELECT conversation_id, status FROM deliveries").fetchall()
    assert rows == [(PERSONAL, "done")]
    # No rules file in its folder: the welcome promises no temperatures.
    assert connector.texts(PERSONAL) == [welcome_text(Scope.PERSONAL, what=Watching())]
    assert "Traceback" not in app.output
    assert connector.arrivals == 3  # two refused connections, then the welcome


def test_bad_setting_exits_2_naming_the_variable_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py")], cwd=tmp_path, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "PORT": "eighty"}, timeout=60,
    )
    assert result.returncode == 2
    assert "PORT='eighty' is not valid" in result.stderr
    assert "Traceback" not in result.stderr


def test_default_database_lives_under_data(tmp_path: Path) -> None:
    app = AppProcess({"RULES_FILE": str(ROOT / "rules.toml")}, tmp_path).start()
    assert app.signal() == 0
    assert (tmp_path / "data" / "heatwatch.db").is_file()


def test_a_refused_database_login_stops_the_start_with_one_line_and_no_password(
    tmp_path: Path, postgres: PostgresServer,
) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py")], cwd=tmp_path, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "MONITORING_ENABLED": "false",
             "DATABASE_URL": postgres.url("postgres", password="not-the-password")}, timeout=60,
    )
    assert result.returncode == 1
    assert "Cannot start: PostgreSQL refused the password of user 'heatwatch'" in result.stderr
    assert "fix the user or password in DATABASE_URL" in result.stderr
    assert "not-the-password" not in result.stderr
    assert "Traceback" not in result.stderr
