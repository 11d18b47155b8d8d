"""Three `python app.py` replicas on one real PostgreSQL database, one connector stand-in, one
real InfluxDB: one replica polls; an alert to 300 people is sent by all of them; the leader is
killed (SIGKILL) mid-fan-out; another replica takes over polling, the alert does not fire
again, and every person gets the card once (at most one duplicate per send that was in flight
at the kill)."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from storage.database import open_database
from tests.servers.influx import InfluxServer, point
from tests.servers.postgres import PostgresServer
from tests.standins.connector import ConnectorStandIn
from tests.support.cluster import RULE, leaders, register_people, replica_env
from tests.support.process import AppProcess
from tests.support.waiting import wait_until

log = logging.getLogger(__name__)
PEOPLE = 300


async def query(url: str, sql: str) -> list[dict]:
    db = await open_database(url)
    try:
        return await db.fetch_all(sql)
    finally:
        await db.close()


def test_three_replicas_one_poller_each_card_once_and_a_takeover_when_the_leader_dies(
    tmp_path: Path, postgres: PostgresServer, influxdb: InfluxServer,
    connector: ConnectorStandIn,
) -> None:
    influxdb.create_database("replicas")
    rules = tmp_path / "rules.toml"
    rules.write_text(RULE)
    url = postgres.create_database()

    async def prepare() -> list[str]:
        db = await open_database(url)
        try:
            return await register_people(db, connector.url, PEOPLE)
        finally:
            await db.close()

    people = asyncio.run(prepare())
    env = replica_env(url, influxdb, "replicas", rules)
    replicas = [AppProcess(env, tmp_path).start() for _ in range(3)]
    try:
        wait_until(lambda: len(leaders(replicas)) == 1, 15, "one leader")
        leader = leaders(replicas)[0]
        survivors = [r for r in replicas if r is not leader]
        connector.latency = 0.05  # a fan-out of ~6 s at Teams' 50/s tenant cap

        influxdb.write("replicas", [point("r1", "s1", 35.0,
                                          int(datetime.now(UTC).timestamp() * 1000))])
        wait_until(lambda: len(connector.cards()) >= PEOPLE // 3, 60, "a third of the cards")
        leader.signal(signal.SIGKILL)
        killed_at = time.monotonic()
        # What the dead replica had claimed and not recorded as sent. Those it had already
        # handed to the connector (accepted, maybe only after the kill: the requests were on
        # the wire) are sent again once their lease expires: at most one duplicate each.
        owner = re.search(r"Delivery worker (\w+) started", leader.output)
        assert owner is not None, leader.output
        in_flight = {row["conversation_id"] for row in asyncio.run(query(
            url, "SELECT conversation_id FROM deliveries WHERE status = 'pending' "
                 f"AND lease_owner = '{owner.group(1)}'"))}

        wait_until(lambda: len(leaders(survivors)) == 1, 10, "a new leader")
        takeover = time.monotonic() - killed_at
        # Stranded sends of the dead replica come back when their 10 s lease expires.
        wait_until(lambda: len({r.conversation_id for r in connector.cards()}) == PEOPLE, 60,
                   "every person's card")
        [new_leader] = leaders(survivors)
        polls = new_leader.polls()  # three more polls by the new leader: no new alert
        wait_until(lambda: new_leader.polls() >= polls + 3, 30, "three more polls")

        per_person = Counter(r.conversation_id for r in connector.cards())
        duplicates = sum(n - 1 for n in per_person.values())
        log.warning("replicas: takeover after %.1f s; %d duplicate card(s); the dead replica "
                    "had %d delivery(ies) claimed and not recorded", takeover, duplicates,
                    len(in_flight))
        assert set(per_person) == set(people)
        assert {c for c, n in per_person.items() if n > 1} <= in_flight
        assert all(n <= 2 for n in per_person.values())
        statuses = asyncio.run(query(url, "SELECT status, COUNT(*) AS n FROM deliveries "
                                          "GROUP BY status"))
        assert {row["status"]: row["n"] for row in statuses} == {"done": PEOPLE}
        # Exactly one survivor took over the polling.
        outputs = [r.finish() for r in survivors]
        assert sum("This replica now polls InfluxDB (leader)" in o for o in outputs) == 1
    finally:
        for replica in replicas:
            replica.finish()
