from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from common.settings import Settings, load_settings
from heatwatch.server import SERVICES, create_app
from storage.registry import ConversationRegistry
from tests.loopback_only import loopback_guard
from tests.servers.influx import InfluxServer
from tests.servers.postgres import PostgresServer
from tests.standins.connector import ConnectorStandIn
from tests.standins.identity import EntraStandIn, OpenIdStandIn
from tests.support.teams import APP_ID, APP_SECRET, TeamsChannel


@pytest.fixture(scope="session", autouse=True)
def loopback_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Nothing may leave this machine: this process and every Python process the tests start
    (through `sitecustomize` on PYTHONPATH) refuse and record non-loopback lookups and
    connects; `no_traffic_leaves_loopback` fails the test that made one."""
    log = tmp_path_factory.mktemp("loopback") / "attempts.log"
    log.touch()
    guard_dir = str(Path(loopback_guard.__file__).parent)
    saved = {name: os.environ.get(name) for name in ("PYTHONPATH", loopback_guard.LOG_VARIABLE)}
    os.environ[loopback_guard.LOG_VARIABLE] = str(log)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        part for part in (guard_dir, saved["PYTHONPATH"]) if part)
    loopback_guard.install()
    yield log
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def no_traffic_leaves_loopback(loopback_only: Path) -> Iterator[None]:
    seen = len(loopback_only.read_text().splitlines())
    yield
    attempts = loopback_only.read_text().splitlines()[seen:]
    loopback_guard.VIOLATIONS.clear()
    if attempts:
        pytest.fail("traffic to a non-loopback host: " + "; ".join(attempts))


@pytest.fixture
def connector() -> Iterator[ConnectorStandIn]:
    stand_in = ConnectorStandIn().start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def openid() -> Iterator[OpenIdStandIn]:
    stand_in = OpenIdStandIn().start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def entra() -> Iterator[EntraStandIn]:
    stand_in = EntraStandIn(APP_ID, APP_SECRET).start()
    yield stand_in
    stand_in.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session; each test gets a database of its own."""
    server = PostgresServer().init().start()
    yield server
    server.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every test that uses the app's storage runs on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/heatwatch.db"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Anonymous local mode (no MicrosoftAppId), a real SQLite file."""
    return load_settings(environ={"DATABASE_URL": database_url, "MONITORING_ENABLED": "false"},
                         env_file=None)


@pytest.fixture
async def client(aiohttp_client, settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(settings))


@pytest.fixture
def registry(client: TestClient) -> ConversationRegistry:
    return client.app[SERVICES].registry


@pytest.fixture
def teams(client: TestClient, connector: ConnectorStandIn) -> TeamsChannel:
    return TeamsChannel(client, connector.url)


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """One real InfluxDB for the session; tests isolate themselves with their own database."""
    server = InfluxServer(tmp_path_factory.mktemp("influxdb")).start()
    yield server
    server.stop()
