"""A schedule backed by Teams Shifts follows the shifts Microsoft Graph serves (the Graph
stand-in: filter, paging, MS-APP-ACTS-AS, 403 without consent, an outage)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from heatwatch.server import SERVICES, create_app
from notifier.install.graph import GraphError
from tests.standins.connector import ConnectorStandIn
from tests.standins.graph import GraphStandIn
from tests.standins.identity import EntraStandIn, OpenIdStandIn
from tests.support.teams import authenticated_settings

TEAM = "19:efa9296d959346209fea44151c742e73@thread.skype"
OWNER = "c33aafc4-646d-4543-9d4c-abd28e4d2110"
ADELE, BEN, CARA = ("eddfa9d4-346e-4cce-a18f-fa6261ad776b",
                    "5f0a9c1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b", "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a")
RULES = f"""
[[schedule]]
name = "dc"
shifts = "{TEAM}"
scheduling_group = "TAG_on_call"
acts_as = "{OWNER}"

[[rule]]
name = "server-room-temperature"
measurement = "temperature"
crit_above = 32.0
targets = ["oncall:dc"]
"""


def shift(user: str, start: datetime, hours: float, group: str = "TAG_on_call"
          ) -> dict[str, Any]:
    def text(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"id": f"SHFT_{user[:4]}_{start:%H%M}", "userId": user, "schedulingGroupId": group,
            "sharedShift": {"startDateTime": text(start),
                            "endDateTime": text(start + timedelta(hours=hours)),
                            "displayName": "On call", "theme": "blue"}}


@pytest.fixture
def graph() -> Iterator[GraphStandIn]:
    stand_in = GraphStandIn(manifest_id="3b1f2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d").start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
async def app(aiohttp_client: Any, tmp_path: Path, graph: GraphStandIn, entra: EntraStandIn,
              connector: ConnectorStandIn) -> AsyncIterator[TestClient]:
    openid = OpenIdStandIn().start()
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    settings = authenticated_settings(
        f"sqlite:///{tmp_path}/shifts.db", openid.metadata_url, entra.authority,
        GRAPH_BASE_URL=graph.url, TEAMS_SERVICE_URL=connector.url, RULES_FILE=str(rules))
    yield await aiohttp_client(create_app(settings))
    openid.stop()


async def test_the_schedule_follows_the_shared_shifts_graph_serves(
    app: TestClient, graph: GraphStandIn
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    graph.shifts[TEAM] = [
        shift(ADELE, now - timedelta(hours=2), 8),
        shift(CARA, now - timedelta(hours=1), 8, group="TAG_kitchen"),  # another group
        shift(BEN, now + timedelta(hours=6), 8),
        shift(ADELE, now + timedelta(days=3), 8),  # on the second page
        shift(BEN, now + timedelta(days=30), 8),  # beyond the week read ahead
    ]
    assert await app.app[SERVICES].shifts.read(now) == 3
    schedules = app.app[SERVICES].rules.schedules
    current = schedules.shift("dc", now)
    assert (current.person, current.next_person) == (ADELE, BEN)
    assert current.until == now + timedelta(hours=6)
    assert schedules.person("dc", now + timedelta(hours=7)) == BEN
    assert schedules.expand(("oncall:dc",), now) == (f"user:{ADELE}",)
    reads = [path for method, path, _ in graph.requests if "/schedule/shifts" in path]
    assert len(reads) >= 2 and "%24skiptoken=2" in reads[-1].replace("$", "%24")

    # Graph fails: the last schedule read holds, and the reader says so.
    graph.shifts_failing = True
    with pytest.raises(GraphError, match="the last schedule read holds"):
        await app.app[SERVICES].shifts.read(now)
    assert schedules.person("dc", now) == ADELE


async def test_without_consent_the_error_names_the_permission(
    app: TestClient, graph: GraphStandIn
) -> None:
    graph.shifts_forbidden = True
    with pytest.raises(GraphError) as raised:
        await app.app[SERVICES].shifts.read(datetime.now(UTC))
    assert raised.value.status == 403 and "Schedule.Read.All" in str(raised.value)
