"""A room of sensors for scenario tests: the app, a monitor polling a real InfluxDB at chosen
times, and people in personal chats (the Bot Connector stand-in records what each was sent)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from common.settings import load_settings
from heatwatch.server import SERVICES, create_app
from notifier.alerts.events import AlertEvent
from notifier.monitoring.influxql import InfluxQLSource
from notifier.monitoring.monitor import Monitor
from notifier.monitoring.rules import parse_rules
from storage.alert_state import AlertStateStore
from tests.servers.influx import ADMIN, ADMIN_PASSWORD, InfluxServer, point
from tests.standins.connector import ConnectorStandIn
from tests.support.cluster import register_people
from tests.support.delivery import RULES

_databases = itertools.count(1)
ROOM = "dc1-a"


@dataclass
class Room:
    """The app, a monitor polling a real InfluxDB at chosen times, and people in chats."""

    client: TestClient
    influx: InfluxServer
    database: str
    connector: ConnectorStandIn
    chats: list[str]
    t0: datetime
    monitor: Monitor | None = None

    def at(self, seconds: float) -> datetime:
        return self.t0 + timedelta(seconds=seconds)

    def write(self, seconds: float, values: dict[str, float], room: str = ROOM) -> None:
        at_ms = int(self.at(seconds).timestamp() * 1000)
        self.influx.write(self.database, [point(room, sensor, value, at_ms)
                                          for sensor, value in values.items()])

    async def poll(self, seconds: float, rules: str = RULES) -> list[AlertEvent]:
        if self.monitor is None:
            source = InfluxQLSource(self.influx.url, self.database, username=ADMIN,
                                    password=ADMIN_PASSWORD)
            self.monitor = Monitor(parse_rules(rules), source,
                                   AlertStateStore(self.client.app[SERVICES].database),
                                   self.client.app[SERVICES].sink, interval=1.0, down_after=60.0)
        return await self.monitor.poll_once(self.at(seconds))

    def operations(self, chat: str) -> list[Any]:
        return [r for r in self.connector.received if r.conversation_id == chat]

    async def close(self) -> None:
        if self.monitor is not None:
            await self.monitor.source.close()


async def make_room(aiohttp_client: Any, influxdb: InfluxServer, connector: ConnectorStandIn,
                    database_url: str, people: int, window: float, **env: str) -> Room:
    name = f"incidents_{next(_databases)}"
    influxdb.create_database(name)
    app = create_app(load_settings(environ={
        "DATABASE_URL": database_url, "MONITORING_ENABLED": "false",
        "INCIDENT_UPDATE_WINDOW_SECONDS": str(window), **env}, env_file=None))
    client = await aiohttp_client(app)
    chats = await register_people(client.app[SERVICES].database, connector.url, people)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    return Room(client, influxdb, name, connector, chats, t0)


def room_fixture(people: int, window: float) -> Any:
    """A fixture: a `Room` with `people` personal chats, card updates gathered `window` s."""
    @pytest.fixture
    async def made(aiohttp_client: Any, influxdb: InfluxServer, connector: ConnectorStandIn,
                   database_url: str) -> AsyncIterator[Room]:
        room = await make_room(aiohttp_client, influxdb, connector, database_url, people,
                               window)
        yield room
        await room.close()
    return made




async def audit_actions(room: Room, alert_id: str) -> list[str]:
    rows = await room.client.app[SERVICES].database.fetch_all(
        "SELECT action FROM audit_events WHERE alert_id = ? ORDER BY at", (alert_id,))
    return [row["action"] for row in rows]
