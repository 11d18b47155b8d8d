"""The trend and the time-to-critical forecast (least squares over the poller's readings) and
the `Chart.Line` on an incident's card, read from a real InfluxDB; a chart that cannot be had
leaves the card without it and never holds the card back."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from common.settings import load_settings
from heatwatch.server import SERVICES, create_app
from notifier.alerts.events import Severity
from notifier.alerts.record import AlertRecord, HotMember, IncidentSnapshot
from notifier.delivery.charts import POINTS, ChartMaker, line_chart, y_range
from notifier.monitoring.engine import Reading
from notifier.monitoring.rules import parse_rules
from notifier.monitoring.sources import history_reader
from notifier.monitoring.trend import RecentReadings, Trend, forecast, slope_per_minute
from tests.servers.influx import ADMIN, ADMIN_PASSWORD, InfluxServer, point
from tests.standins.connector import ConnectorStandIn
from tests.support.delivery import RULES, card_of
from tests.support.teams import PERSONAL, TeamsChannel, card_text, load_activity
from tests.support.waiting import eventually

RULE = parse_rules("""
[[rule]]
name = "room"
measurement = "temperature"
warn_above = 27.0
crit_above = 32.0
""")[0]
COLD_RULE = parse_rules("""
[[rule]]
name = "cold"
measurement = "temperature"
warn_below = 10.0
crit_below = 5.0
""")[0]


def line(slope_per_min: float, minutes: float = 5, every: float = 15.0, start: float = 20.0,
         noise: float = 0.0, seed: int = 1) -> list[tuple[float, float]]:
    """(seconds, value) readings rising `slope_per_min` per minute, with optional noise."""
    rng = random.Random(seed)
    count = int(minutes * 60 / every) + 1
    return [(i * every, start + slope_per_min * i * every / 60 + rng.uniform(-noise, noise))
            for i in range(count)]


@pytest.mark.parametrize("slope", [0.4, -0.25, 1.5, 0.0])
def test_the_robust_slope_recovers_a_known_slope(slope: float) -> None:
    assert slope_per_minute(line(slope)) == pytest.approx(slope, abs=1e-9)


def test_noise_does_not_hide_the_trend() -> None:
    assert slope_per_minute(line(0.4, minutes=5, every=5, noise=0.3)) == pytest.approx(
        0.4, abs=0.08)


def test_too_few_readings_have_no_trend() -> None:
    assert slope_per_minute([(0.0, 20.0), (15.0, 21.0)]) is None
    assert slope_per_minute([(0.0, 20.0), (0.0, 21.0), (0.0, 22.0)]) is None


def test_the_window_keeps_only_the_last_minutes_before_the_newest_reading() -> None:
    recent = RecentReadings(window=120)
    t0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    for i in range(20):  # falling for 5 minutes, then rising 1 °C/min for the last 2
        value = 30 - 0.5 * i if i < 11 else 24.5 + (i - 11) * 0.25
        recent.add("room", "k", t0 + timedelta(seconds=15 * i), value)
    assert recent.slope("room", "k") == pytest.approx(1.0, abs=0.01)
    recent.add("room", "k", t0 + timedelta(seconds=15 * 19), 99.0)  # a repeat of the newest
    assert recent.slope("room", "k") == pytest.approx(1.0, abs=0.01)


def trend(slope: float, level: float, low: float | None = None, high: float | None = None,
          good: bool = True) -> Trend:
    return Trend(slope=slope, low=slope if low is None else low,
                 high=slope if high is None else high, level=level, readings=20, span=300,
                 noise=0.05, good=good, stepped=False)


def test_a_warning_rising_toward_critical_says_when() -> None:
    assert forecast(RULE, Severity.WARN, 29.6, 27.0, trend(0.4, 29.6)) == \
        "rising 0.4 °C/min, critical in ~6 min"
    assert forecast(RULE, Severity.WARN, 29.6, 27.0, trend(0.4, 29.6, 0.3, 0.5)) == \
        "rising 0.4 °C/min, critical in 4-8 min"
    assert forecast(RULE, Severity.WARN, 31.8, 27.0, trend(0.4, 31.8)) == \
        "rising 0.4 °C/min, critical in under a minute"


def test_nothing_when_not_rising_and_a_critical_says_it_still_rises() -> None:
    assert forecast(RULE, Severity.WARN, 29.6, 27.0, trend(0.01, 29.6)) == ""
    assert forecast(RULE, Severity.WARN, 29.6, 27.0, trend(-0.3, 29.6)) == ""
    assert forecast(RULE, Severity.WARN, 29.6, 27.0, None) == ""
    assert forecast(RULE, Severity.WARN, 29.6, 27.0, trend(0.4, 29.6, good=False)) == ""
    assert forecast(RULE, Severity.CRIT, 33.0, 32.0, trend(0.5, 33.0)) == \
        "still rising 0.5 °C/min"
    assert forecast(RULE, Severity.CRIT, 33.0, 32.0, trend(-0.5, 33.0)) == ""


def test_a_below_rule_forecasts_falling() -> None:
    assert forecast(COLD_RULE, Severity.WARN, 8.0, 10.0, trend(-0.5, 8.0)) == \
        "falling 0.5 °C/min, critical in ~6 min"
    assert forecast(COLD_RULE, Severity.WARN, 8.0, 10.0, trend(0.5, 8.0)) == ""


def incident(**event: Any) -> AlertRecord:
    return AlertRecord(alert_id="a1", rule="room", acknowledged_by=None, acknowledged_at=None,
                       incident=IncidentSnapshot.from_json({"kind": "fired", "rule": "room", "at": "2026-12-05T12:00:00+00:00", "source": "influxdb",
        "unit": "°C", "thresholds": {"warn_above": 27.0, "crit_above": 32.0},
        "hottest": [{"label": "rack-1", "tags": {"room": "r1", "sensor": "rack-1"}}],
        **event}))


async def test_a_failing_or_slow_source_gives_no_chart_in_bounded_time() -> None:
    async def broken(*_: Any) -> dict[str, list[tuple[datetime, float]]]:
        raise OSError("connection refused")

    given_up = asyncio.Event()

    async def stalled(*_: Any) -> dict[str, list[tuple[datetime, float]]]:
        try:
            await asyncio.Event().wait()  # a source that never answers
        finally:
            given_up.set()
        return {}

    assert await ChartMaker(broken).chart(incident()) is None
    assert await ChartMaker(stalled, timeout=0.2).chart(incident()) is None
    assert given_up.is_set()  # bounded by the timeout, not by the source: the query is dropped


async def test_renders_of_one_incident_state_share_one_query() -> None:
    calls = 0
    now = datetime.now(UTC)

    async def read(*_: Any) -> dict[str, list[tuple[datetime, float]]]:
        nonlocal calls
        calls += 1
        return {"room=r1\x1fsensor=rack-1": [(now - timedelta(minutes=m), 28.0 + m / 10)
                                             for m in range(10)]}

    maker = ChartMaker(read)
    charts = await asyncio.gather(*(maker.chart(incident()) for _ in range(50)))
    assert calls == 1 and all(c == charts[0] and c is not None for c in charts)
    await maker.chart(incident(at="2026-12-05T12:00:10+00:00"))  # the incident changed
    assert calls == 2



@pytest.mark.parametrize(("minutes", "start"), [(0.9, -1), (1.0, -1), (4.2, -5), (12, -15),
                                                (29.5, -30), (30.4, -30)])
def test_the_time_axis_starts_at_a_round_minute(minutes: float, start: float) -> None:
    # A renderer labels the axis at equal steps between its ends: -0.9..0 came out as
    # "-0.68", "-0.45" and "-5.55e-17" in the Agents Playground.
    now = datetime.now(UTC)
    series = [(now - timedelta(minutes=minutes * k / 4), 27.0 + k) for k in range(5)]
    chart = line_chart(incident().incident, list(incident().incident.hottest),
                       {"room=r1\x1fsensor=rack-1": series}, now)
    assert chart is not None
    warning, critical, data = chart["data"]
    assert [v["x"] for v in warning["values"]] == [start, 0] == [v["x"] for v in critical["values"]]
    assert data["values"][0]["x"] == -round(minutes, 1) and data["values"][-1]["x"] == 0


async def test_a_chart_point_stands_for_the_middle_of_its_step_and_never_the_future() -> None:
    # Both query languages label a mean with the start of its step: a fast rise would show one
    # step late, and the step still filling would sit in the future once shifted.
    rule = parse_rules(RULES)[0]
    now = datetime.now(UTC)
    starts = [now - timedelta(seconds=90), now - timedelta(seconds=60), now - timedelta(seconds=5)]

    class Source:
        description = "stand-in"

        async def latest(self, rule: Any) -> list[Reading]:
            return []

        async def history(self, rule: Any, series: Any, seconds: int, step: int) -> list[Reading]:
            return [Reading({"room": "r1"}, 20.0 + n, at) for n, at in enumerate(starts)]

        async def close(self) -> None: ...

    points = await history_reader(Source(), [rule])(rule.name, [{"room": "r1"}], 1800, 30)
    [(key, series)] = points.items()
    assert [at - start for (at, _), start in zip(series[:2], starts, strict=False)] == [
        timedelta(seconds=15)] * 2
    assert now <= series[2][0] <= datetime.now(UTC)

def member(value: float, at: datetime) -> HotMember:
    return HotMember(label="rack-1", tags={"room": "r1", "sensor": "rack-1"}, value=value,
                     at=at)


def test_the_last_point_is_the_reading_the_card_shows() -> None:
    # 30-second steps lag a fast rise; the card said CRITICAL 32.42 °C while the line ended
    # near 26 °C.
    now = datetime.now(UTC)
    steps = [(now - timedelta(seconds=30 * k + 15), 24.0 + (20 - k) * 0.1) for k in range(20)]
    shown = member(32.42, now - timedelta(seconds=5))
    chart = line_chart(incident().incident, [shown], {"room=r1\x1fsensor=rack-1": steps}, now)
    assert chart is not None
    values = chart["data"][-1]["values"]
    assert values[-1] == {"x": -0.1, "y": 32.42}
    assert len(values) <= POINTS and [v["x"] for v in values] == sorted(v["x"] for v in values)


def test_a_gap_in_the_data_is_not_drawn_as_a_line() -> None:
    now = datetime.now(UTC)
    before = [(now - timedelta(minutes=29 - k / 2), 33.0) for k in range(10)]
    after = [(now - timedelta(minutes=4 - k / 2), 23.0) for k in range(8)]
    chart = line_chart(incident().incident, list(incident().incident.hottest),
                       {"room=r1\x1fsensor=rack-1": before + after}, now)
    assert chart is not None
    parts = [line for line in chart["data"] if line["legend"] == "rack-1"]
    assert [len(p["values"]) for p in parts] == [10, 8]  # split at the 20-minute gap
    assert {p["color"] for p in parts} == {"categoricalBlue"}
    assert all(v["y"] == 33.0 for v in parts[0]["values"])


@pytest.mark.parametrize(("values", "low", "high"), [
    ([22.0, 34.0], 21, 36), ([22.3, 26.1, 27.0, 32.0], 22, 32), ([-3.0, 12.0], -3, 12),
    ([24.0, 24.0], 23, 25.5)])
def test_the_y_axis_fits_the_data_with_round_steps(values: list[float], low: float,
                                                   high: float) -> None:
    assert y_range(values) == (low, high)
    step = (high - low) / 5
    assert all(float(f"{low + k * step:.3g}") == pytest.approx(low + k * step)
               for k in range(6))


# Through the app and a real InfluxDB ----------------------------------------------------------

RATE = 0.5  # °C per minute, every rack of the room
OFFSETS = {f"rack-{n}": n * 0.1 for n in range(1, 8)}  # rack-7 runs hottest


def reading(room: str, offsets: dict[str, float], minutes_ago: float, now: datetime) -> list[str]:
    """Each rack at 24 °C + its offset until 6 minutes ago, then rising at RATE: rack-7
    crosses 27 °C 1.4 minutes ago, rack-1 0.2 minutes ago."""
    at_ms = int((now - timedelta(minutes=minutes_ago)).timestamp() * 1000)
    return [point(room, sensor, round(24 + offset + RATE * max(0.0, 6 - minutes_ago), 3), at_ms)
            for sensor, offset in offsets.items()]


async def heat_up(client: TestClient, influx: InfluxServer, database: str) -> None:
    """30 minutes of history, then the last 3 minutes point by point (every 15 s) with a poll
    after each, as the poller would have seen them: the racks cross 27 °C one after another.
    Another room stays cool."""
    monitor = client.app[SERVICES].monitor
    await eventually(lambda: monitor.health.last_success is not None, timeout=20)
    now = datetime.now(UTC)
    lines: list[str] = []
    for tenth in range(300, -1, -2):  # every 12 s
        if tenth > 30:
            lines += reading("server-room-1", OFFSETS, tenth / 10, now)
        lines += reading("server-room-2", {"rack-1": -3.0}, tenth / 10, now)
    influx.write(database, lines)
    for quarter in range(11, -1, -1):
        influx.write(database, reading("server-room-1", OFFSETS, quarter / 4, now))
        await monitor.poll_once()


async def chart_app(aiohttp_client: Any, influx: InfluxServer, database: str,
                    tmp_path: Path, connector: ConnectorStandIn) -> TestClient:
    """The app polling `database` (once at start; the test polls), in a personal chat."""
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    client = await aiohttp_client(create_app(load_settings(environ={
        "DATABASE_URL": f"sqlite:///{tmp_path}/hw.db", "RULES_FILE": str(rules),
        "INFLUX_URL": influx.url, "INFLUX_DATABASE": database, "INFLUX_USERNAME": ADMIN,
        "INFLUX_PASSWORD": ADMIN_PASSWORD, "POLL_INTERVAL_SECONDS": "3600",
        "INCIDENT_UPDATE_WINDOW_SECONDS": "0"}, env_file=None)))
    teams = TeamsChannel(client, connector.url)
    await teams.ok("personal_bot_added")
    await teams.drained()  # the welcome
    connector.clear()
    return client


def chart_of(card: dict[str, Any]) -> dict[str, Any] | None:
    return next((b for b in card["body"] if b.get("type") == "Chart.Line"), None)


def latest_card(connector: ConnectorStandIn) -> dict[str, Any]:
    """The card as the chat shows it now: its last update, else the post."""
    updates = connector.updates(PERSONAL)
    return card_of(updates[-1] if updates else connector.cards(PERSONAL)[0])


async def test_the_incident_card_shows_the_hottest_series_chart_and_the_forecast(
        aiohttp_client: Any, influxdb: InfluxServer, tmp_path: Path,
        connector: ConnectorStandIn) -> None:
    influxdb.create_database("charts")
    client = await chart_app(aiohttp_client, influxdb, "charts", tmp_path, connector)
    await heat_up(client, influxdb, "charts")

    await eventually(lambda: "7 | Warning" in card_text(latest_card(connector)), timeout=20)
    assert len(connector.cards(PERSONAL)) == 1  # one card for the room, updated in place
    card = latest_card(connector)
    text = card_text(card)
    assert "server-room-1" in text and "server-room-2" not in text
    # Each rack fired at 27.0-27.1 °C rising 0.5 °C/min: about ten minutes from critical.
    assert "rising 0.5 °C/min, critical in 9-10 min" in text  # with the slope's range
    assert "fast rise in 7 of 7 sensors: cooling failure?" in text  # the likely cause
    assert "rack-7 ↑" in text
    chart = chart_of(card)
    assert chart is not None, text
    legends = [line["legend"] for line in chart["data"]]
    hottest = next(b for b in card["body"] if b.get("type") == "FactSet"
                   and all("·" in f["value"] for f in b["facts"]))
    # The thresholds first (a narrow legend folds the last entries), then the five hottest
    # racks as the card lists them.
    facts = hottest["facts"]
    assert legends == ["Warning 27 °C", "Critical 32 °C"] + [
        f["title"].removesuffix(" ↑") for f in facts]
    assert "Warning 27 °C, Critical 32 °C" in chart["title"]
    assert len(set(legends[2:])) == 5 and all(x.startswith("rack-") for x in legends[2:])
    for data, fact in zip(chart["data"][2:], facts, strict=True):
        values = data["values"]
        assert 30 <= len(values) <= POINTS  # downsampled: one point per 30 s at most
        xs = [v["x"] for v in values]
        assert xs == sorted(xs) and xs[0] >= -30.5 and xs[-1] <= 0.5
        # From the calm level to the reading the card shows (when the rack fired).
        assert values[0]["y"] == pytest.approx(24 + OFFSETS[data["legend"]], abs=0.05)
        assert values[-1]["y"] >= 27.0
        assert float(fact["value"].split(" °C")[0]) == pytest.approx(values[-1]["y"], abs=0.01)
    assert [v["y"] for v in chart["data"][1]["values"]] == [32.0, 32.0]
    # The y axis fits the story (24-32 °C), not 0-35.
    assert 20 <= chart["yMin"] <= 24 and 32 <= chart["yMax"] <= 36
    assert chart["fallback"] == "drop" and chart["yAxisTitle"] == "°C"


async def test_without_influxdb_the_card_refresh_goes_out_without_the_chart(
        aiohttp_client: Any, tmp_path: Path, connector: ConnectorStandIn) -> None:
    influx = InfluxServer(tmp_path / "influx").start()
    try:
        influx.create_database("gone")
        client = await chart_app(aiohttp_client, influx, "gone", tmp_path, connector)
        await heat_up(client, influx, "gone")
        await eventually(lambda: len(connector.cards(PERSONAL)) == 1, timeout=20)
        card = latest_card(connector)
        assert chart_of(card) is not None
        alert_id = next(a["data"]["alertId"] for a in card["actions"]
                        if a.get("verb") == "ack")
    finally:
        influx.stop()

    action = load_activity("card_action", connector.url)
    action["value"]["action"].update(verb="ack", data={"alertId": alert_id})
    response = await client.post("/api/messages", json=action)
    assert response.status == 200
    refreshed = (await response.json())["value"]
    assert "Acknowledged by" in card_text(refreshed)
    assert chart_of(refreshed) is None
    # The other cards of the incident (here: the chat's own) are updated without it too.
    await eventually(lambda: "Acknowledged by" in card_text(latest_card(connector)))
    assert chart_of(latest_card(connector)) is None


def test_no_step_that_reaches_past_the_cards_reading_is_drawn() -> None:
    # The step around the card's reading held a later, hotter reading: the line rose past the
    # card's 24.07 °C to 24.4 and fell back to it while the card said it was rising.
    now = datetime.now(UTC)
    read_at = now - timedelta(seconds=40)
    steps = [(now - timedelta(seconds=31 * k + 15), 23.0 + (10 - k) * 0.1) for k in range(10)]
    steps[1] = (read_at - timedelta(seconds=5), 24.4)  # its step ends after the reading
    chart = line_chart(incident().incident, [member(24.07, read_at)],
                       {"room=r1\x1fsensor=rack-1": steps}, now)
    assert chart is not None
    values = chart["data"][-1]["values"]
    assert values[-1] == {"x": -0.7, "y": 24.07}
    assert max(v["y"] for v in values) == 24.07
