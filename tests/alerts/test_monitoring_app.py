"""Monitoring as it runs in the app: the background job polls a real InfluxDB, publishes
events, and /readyz reports the data source."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from common.settings import load_settings
from heatwatch.server import create_app
from notifier.alerts.events import EventKind
from tests.servers.influx import ADMIN, ADMIN_PASSWORD, InfluxServer, point
from tests.support.sinks import RecordingSink
from tests.support.waiting import eventually, eventually_async


async def test_background_job_fires_an_alert_and_readyz_reports_influx(
    aiohttp_client, influxdb: InfluxServer, tmp_path: Path
) -> None:
    influxdb.create_database("app_job")
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "hot"\nmeasurement = "temperature"\ncrit_above = 30.0\n')
    settings = load_settings(environ={
        "DATABASE_URL": f"sqlite:///{tmp_path}/hw.db", "RULES_FILE": str(rules),
        "INFLUX_URL": influxdb.url, "INFLUX_DATABASE": "app_job", "INFLUX_USERNAME": ADMIN,
        "INFLUX_PASSWORD": ADMIN_PASSWORD, "POLL_INTERVAL_SECONDS": "1"}, env_file=None)
    sink = RecordingSink()
    app = create_app(settings, sink=sink)
    client = await aiohttp_client(app)

    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    influxdb.write("app_job", [point("r1", "s1", 35.0, now_ms)])
    await eventually(lambda: sink.events, what="the first poll's events")

    assert [(e.kind, e.rule, e.value) for e in sink.events] == [(EventKind.FIRED, "hot", 35.0)]
    ready = await (await client.get("/readyz")).json()
    assert ready["checks"] == {"storage": "ok", "poller": "leader", "influxdb": "ok"}


async def test_readyz_stays_ready_but_reports_a_failing_influx(
    aiohttp_client, tmp_path: Path
) -> None:
    from tests.support.process import ROOT, free_port

    settings = load_settings(environ={
        "DATABASE_URL": f"sqlite:///{tmp_path}/hw.db", "RULES_FILE": str(ROOT / "rules.toml"),
        "INFLUX_URL": f"http://127.0.0.1:{free_port()}", "POLL_INTERVAL_SECONDS": "1"},
        env_file=None)
    client = await aiohttp_client(create_app(settings))

    async def failing() -> bool:
        body = await (await client.get("/readyz")).json()
        return bool(body["checks"]["influxdb"].startswith("failing"))

    await eventually_async(failing, what="/readyz reporting the failing source")
    response = await client.get("/readyz")
    assert response.status == 200
    assert "cannot reach InfluxDB" in (await response.json())["checks"]["influxdb"]
