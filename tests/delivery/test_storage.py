"""The storage layer where replicas meet, on SQLite and on a real PostgreSQL (the `database_url`
fixture runs each test on both): several connections ("replicas") writing the same rows at
once, outbox claims, leases that expire, the poller election, and what a wrong URL says."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from common.errors import StorageError
from common.settings import InfluxSettings
from demo.processes import free_port
from heatwatch.server import share_limits, stop_task
from notifier.delivery.planner import OutboxSink
from notifier.delivery.ratelimit import DeliveryLimiter
from notifier.monitoring.monitor import Monitor
from notifier.monitoring.rules import RuleRouting, parse_rules
from notifier.monitoring.sources import build_source
from storage.alert_state import AlertStateStore
from storage.backend import SqlBackend
from storage.database import open_database
from storage.models import ConversationUpsert, Scope
from storage.outbox import NewDelivery, Operation, Outbox
from storage.postgres import PostgresBackend
from storage.registry import ConversationRegistry
from tests.servers.postgres import USER, PostgresServer
from tests.support.waiting import eventually, eventually_async

TENANT = "tenant-1"


async def connected(database_url: str) -> list[SqlBackend]:
    return [await open_database(database_url) for _ in range(3)]


@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[list[SqlBackend]]:
    """Three independent connections (pools) to one database, as three replicas have."""
    backends = await connected(database_url)
    yield backends
    for backend in backends:
        await backend.close()


@pytest.fixture
async def pg_replicas(postgres: PostgresServer) -> AsyncIterator[list[SqlBackend]]:
    """The same on PostgreSQL only: for what SQLite, one process, does not have (sessions)."""
    backends = await connected(postgres.create_database())
    yield backends
    for backend in backends:
        await backend.close()


def personal(conversation: str, name: str = "Adele") -> ConversationUpsert:
    return ConversationUpsert(
        tenant_id=TENANT, conversation_id=conversation, scope=Scope.PERSONAL,
        service_url="https://smba.trafficmanager.net/emea/",
        reference={"conversation": {"id": conversation}, "serviceUrl": "x"},
        user_aad_object_id="aad-1", user_name=name)


async def test_concurrent_upserts_of_one_conversation_leave_one_row(
    replicas: list[SqlBackend],
) -> None:
    registries = [ConversationRegistry(db) for db in replicas]
    await asyncio.gather(*(registries[i % 3].upsert_conversation(personal("a:1", f"name-{i}"))
                           for i in range(30)))
    rows = await replicas[0].fetch_all("SELECT user_name FROM conversations")
    assert len(rows) == 1
    assert rows[0]["user_name"].startswith("name-")


async def test_welcome_is_claimed_by_exactly_one_replica(replicas: list[SqlBackend]) -> None:
    registries = [ConversationRegistry(db) for db in replicas]
    await registries[0].upsert_conversation(personal("a:1"))
    claims = await asyncio.gather(*(registries[i % 3].claim_welcome(TENANT, "a:1")
                                    for i in range(12)))
    assert claims.count(True) == 1


async def test_replicas_claiming_at_once_never_lease_a_delivery_twice(
    replicas: list[SqlBackend],
) -> None:
    now = datetime.now(UTC)
    items = [NewDelivery(f"e{n}", "alert-1", TENANT, f"c{n % 100}", Operation.TEXT, str(n))
             for n in range(300)]
    await Outbox(replicas[0]).enqueue(items, now)

    leased: Counter[str] = Counter()
    conversations_per_round: list[list[str]] = []

    async def worker(db: SqlBackend, owner: str) -> None:
        outbox = Outbox(db)
        while True:
            claimed = await outbox.claim(owner, datetime.now(UTC), 16, 60)
            if not claimed:
                if not (await outbox.counts()).get("pending"):
                    return
                await asyncio.sleep(0.01)
                continue
            assert len(claimed) <= 16, f"{len(claimed)} leased for a limit of 16"
            conversations_per_round.append([d.conversation_id for d in claimed])
            for delivery in claimed:
                leased[delivery.id] += 1
                await outbox.complete(delivery.id, datetime.now(UTC))

    async with asyncio.timeout(120):
        await asyncio.gather(*(worker(replicas[i % 3], f"w{i}") for i in range(6)))
    assert len(leased) == 300
    assert set(leased.values()) == {1}, "a delivery was leased twice"
    assert all(len(batch) == len(set(batch)) for batch in conversations_per_round)
    # In each conversation, the deliveries completed in the order they were queued.
    done = await replicas[0].fetch_all(
        "SELECT conversation_id, payload FROM deliveries ORDER BY updated_at, id")
    by_conversation: dict[str, list[int]] = {}
    for row in done:
        by_conversation.setdefault(row["conversation_id"], []).append(int(row["payload"]))
    assert all(values == sorted(values) for values in by_conversation.values())


async def test_a_lease_of_a_dead_replica_expires_and_another_takes_the_delivery(
    replicas: list[SqlBackend],
) -> None:
    now = datetime.now(UTC)
    await Outbox(replicas[0]).enqueue(
        [NewDelivery("e1", "alert-1", TENANT, "c1", Operation.TEXT, "hot")], now)
    first = await Outbox(replicas[0]).claim("dies", now, 10, lease=30)
    assert [d.event_id for d in first] == ["e1"]
    assert await Outbox(replicas[1]).claim("other", now + timedelta(seconds=29), 10, 30) == []
    retaken = await Outbox(replicas[1]).claim("other", now + timedelta(seconds=31), 10, 30)
    assert [d.event_id for d in retaken] == ["e1"]


async def test_one_poller_leads_and_another_takes_over_when_it_exits(
    replicas: list[SqlBackend],
) -> None:
    first = replicas[0].leadership("poller", lost_after=30)
    second = replicas[1].leadership("poller", lost_after=30)
    assert await first.acquire()
    if isinstance(replicas[0], PostgresBackend):
        assert not await second.acquire()
        assert await first.confirm()
        await first.release()
        assert await second.acquire()
        assert not await first.acquire()
    else:  # the embedded database has one process: it always leads
        assert await second.acquire()
    await second.release()


async def test_a_leader_whose_session_dies_knows_it_and_loses_the_lease(
    pg_replicas: list[SqlBackend],
) -> None:
    leader = pg_replicas[0].leadership("poller", lost_after=30)
    standby = pg_replicas[1].leadership("poller", lost_after=30)
    assert await leader.acquire()
    # What a network cut or the server's idle_session_timeout does to the leader's session.
    await pg_replicas[2].execute(
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
        "AND pid <> pg_backend_pid()")
    assert not await leader.confirm()
    assert await standby.acquire()
    await standby.release()


async def test_a_silent_leader_is_ended_by_the_server_and_another_takes_over(
    pg_replicas: list[SqlBackend],
) -> None:
    """A leader cut off from the database cannot release its lock; the server ends its idle
    session after `lost_after` seconds and the lock is free."""
    silent = pg_replicas[0].leadership("poller", lost_after=1.0)
    standby = pg_replicas[1].leadership("poller", lost_after=1.0)
    assert await silent.acquire()
    assert not await standby.acquire()
    await eventually_async(standby.acquire, 15, "the standby takes the lock")
    assert not await silent.confirm()
    await standby.release()


async def test_postgres_reconnects_after_the_server_restarts() -> None:
    server = PostgresServer().init().start()
    try:
        url = server.url("postgres")
        db = await open_database(url)
        registry = ConversationRegistry(db)
        await registry.upsert_conversation(personal("a:1"))
        await asyncio.to_thread(server.stop)
        with pytest.raises(StorageError):
            await registry.get_conversation(TENANT, "a:1")
        await asyncio.to_thread(server.start)
        conversation = await registry.get_conversation(TENANT, "a:1")
        assert conversation is not None and conversation.user_name == "Adele"
        await db.close()
    finally:
        await asyncio.to_thread(server.remove)


async def test_postgres_errors_name_the_fix_and_never_the_password(
    postgres: PostgresServer,
) -> None:
    secret = "wrong-password-123"
    with pytest.raises(StorageError) as refused:
        await open_database(postgres.url("postgres", password=secret))
    assert f"refused the password of user {USER!r}" in str(refused.value)
    assert secret not in str(refused.value)

    with pytest.raises(StorageError) as missing:
        await open_database(postgres.url("no_such_db"))
    assert "has no database 'no_such_db'" in str(missing.value)
    assert "CREATE DATABASE" in str(missing.value)

    backend = PostgresBackend("postgresql://u:hidden-pw@127.0.0.1:9/db", connect_timeout=1)
    with pytest.raises(StorageError) as unreachable:
        await backend.open(wait=1)
    assert "Cannot reach PostgreSQL at postgresql://u:***@127.0.0.1:9/db" in str(
        unreachable.value)
    assert "hidden-pw" not in str(unreachable.value)


async def test_replicas_split_the_tenant_send_cap_and_take_it_back_when_one_leaves(
    replicas: list[SqlBackend],
) -> None:
    limiters = [DeliveryLimiter(50.0), DeliveryLimiter(50.0)]
    jobs = [asyncio.create_task(share_limits(db, limiter, f"replica-{i}", 50.0, interval=0.05))
            for i, (db, limiter) in enumerate(zip(replicas, limiters, strict=False))]
    try:
        await eventually(lambda: [limiter.tenant_share for limiter in limiters] == [25.0, 25.0],
                         what="the cap split")
        await stop_task(jobs[1])  # that replica died: its heartbeat goes stale
        await eventually(lambda: limiters[0].tenant_share == 50.0, what="the cap taken back")
    finally:
        for job in jobs:
            await stop_task(job)


async def test_a_leader_backing_off_during_an_influx_outage_keeps_the_poller_lease(
    pg_replicas: list[SqlBackend],
) -> None:
    """While InfluxDB is down the leader waits longer and longer between polls; it must not
    lose its lease meanwhile (replicas would hand the poller around and restart the
    source-down timer each time)."""
    rules = parse_rules('[[rule]]\nname = "hot"\nmeasurement = "t"\ncrit_above = 30\n')
    source = build_source(InfluxSettings(url=f"http://127.0.0.1:{free_port()}", timeout=1))
    db = pg_replicas[0]
    monitor = Monitor(rules, source, AlertStateStore(db), OutboxSink(db, RuleRouting(rules)), interval=0.4,
                      down_after=60)
    leadership = pg_replicas[0].leadership("poller", lost_after=1.2)
    standby = pg_replicas[1].leadership("poller", lost_after=1.2)
    job = asyncio.create_task(monitor.run(leadership))
    try:
        await eventually(lambda: monitor.health.consecutive_failures >= 4,
                         what="four failed polls")  # the next wait is ~3.2 s: over lost_after
        await eventually(lambda: monitor.health.consecutive_failures >= 5, 15,
                         "the poll after the long wait")
        assert monitor.leading
        assert not await standby.acquire()
    finally:
        await stop_task(job)
        await leadership.release()
        await source.close()


async def test_a_card_update_a_worker_already_holds_does_not_stand_for_a_newer_change(
        replicas: list[SqlBackend]) -> None:
    """The planner queues no second card update where one is waiting, since it renders the
    incident as it is when sent; one a worker has leased may already be rendered from an
    older state, so a change made meanwhile must get its own update (it was lost before)."""
    now = datetime.now(UTC)
    outbox = Outbox(replicas[0])
    await outbox.enqueue([NewDelivery("e1", "alert-1", TENANT, "c1", Operation.CARD)], now)
    assert await outbox.pending_cards("alert-1", now) == {(TENANT, "c1")}
    assert len(await outbox.claim("worker", now, 10, lease=30)) == 1
    assert await outbox.pending_cards("alert-1", now) == set()
    # A worker that died holding it: the row goes out again, rendered anew.
    assert await outbox.pending_cards("alert-1", now + timedelta(seconds=31)) == {(TENANT, "c1")}
