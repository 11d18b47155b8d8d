"""The outbox under load (issue #24), on SQLite and on a real PostgreSQL: what a claim takes first
(an incident's first post and escalations before other incidents' queued updates, one card's
deliveries in order), leases a live replica renews and a dead one leaves to expire, and
retention (old finished rows go, open or young ones stay)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from common.clock import utcnow
from common.metrics import Metrics
from common.settings import load_settings
from heatwatch.observability import watch_state
from heatwatch.server import SERVICES, create_app
from notifier.alerts.store import AlertStore
from notifier.delivery.ratelimit import DeliveryLimiter
from notifier.delivery.workers import CLAIM_AHEAD_SECONDS, DeliveryWorker
from storage.audit import SYSTEM, AuditEntry, AuditLog
from storage.backend import SqlBackend
from storage.database import open_database
from storage.outbox import NewDelivery, Operation, Outbox
from storage.retention import COUNTED_TABLES, Retention, RetentionPeriods, table_rows
from tests.standins.connector import ConnectorStandIn
from tests.support.cluster import sample_alert
from tests.support.process import ROOT
from tests.support.teams import TeamsChannel
from tests.support.waiting import eventually_async

TENANT = "tenant-1"
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[SqlBackend]:
    backend = await open_database(database_url)
    yield backend
    await backend.close()


@pytest.fixture
async def second(database_url: str) -> AsyncIterator[SqlBackend]:
    """Another replica's connection (pool) to the same database."""
    backend = await open_database(database_url)
    yield backend
    await backend.close()


def card(event: str, alert: str, conversation: str = "c1") -> NewDelivery:
    return NewDelivery(event, alert, TENANT, conversation, Operation.CARD)


def note(event: str, alert: str, conversation: str = "c1") -> NewDelivery:
    return NewDelivery(event, alert, TENANT, conversation, Operation.TEXT, "a note")


async def posted(db: SqlBackend, alert: str, conversation: str = "c1") -> None:
    """The alert's card is already in the conversation (its first post was sent)."""
    await db.execute_atomically([AlertStore(db).card_statement(alert, TENANT, conversation,
                                                               f"activity-{alert}")])


async def claim_in_order(outbox: Outbox, now: datetime) -> list[str]:
    """Claim one at a time and complete each, as a worker does: the event ids in claim order."""
    order = []
    while claimed := await outbox.claim("worker", now, 10, lease=30):
        assert len(claimed) == 1, "at most one delivery per conversation at a time"
        order.append(claimed[0].event_id)
        await outbox.complete(claimed[0].id, now)
    return order


async def test_a_first_post_is_claimed_before_queued_updates_of_other_incidents(
    db: SqlBackend,
) -> None:
    outbox = Outbox(db)
    await posted(db, "old")
    await outbox.enqueue([card("old-update-1", "old"), note("old-reminder", "old"),
                          card("old-update-2", "old")], T0)
    await outbox.enqueue([card("new-first-post", "new")], T0 + timedelta(seconds=1))
    await outbox.enqueue([note("new-note", "new")], T0 + timedelta(seconds=2))
    order = await claim_in_order(outbox, T0 + timedelta(seconds=3))
    # The new incident's card first; the old card's deliveries keep their order, and the
    # new incident's note comes after its card.
    assert order == ["new-first-post", "old-update-1", "old-reminder", "old-update-2",
                     "new-note"]


async def test_with_the_limiter_busy_only_urgent_deliveries_are_claimed(
    db: SqlBackend,
) -> None:
    outbox = Outbox(db)
    await posted(db, "old", "c1")
    await outbox.enqueue([card("old-update", "old", "c1"), note("welcome", "", "c2"),
                          card("new-first-post", "new", "c3")], T0)
    urgent = await outbox.claim("worker", T0, 10, lease=30, urgent_only=True)
    assert [d.event_id for d in urgent] == ["new-first-post"]
    rest = await outbox.claim("worker", T0, 10, lease=30)
    assert [d.event_id for d in rest] == ["old-update", "welcome"]


async def test_an_escalation_overtakes_other_incidents_but_not_its_own_card(
    db: SqlBackend,
) -> None:
    outbox = Outbox(db)
    for alert in ("quiet", "loud"):
        await posted(db, alert)
    await outbox.enqueue([card("quiet-update", "quiet"), card("loud-update", "loud"),
                          note("escalation-loud", "loud"), card("escalated-loud", "loud")], T0)
    order = await claim_in_order(outbox, T0 + timedelta(seconds=1))
    # The escalation waits for its own card's older update, but not for the other incident.
    assert order == ["loud-update", "escalation-loud", "escalated-loud", "quiet-update"]


async def test_a_conversation_with_a_delivery_in_flight_gets_nothing_else_meanwhile(
    db: SqlBackend, second: SqlBackend,
) -> None:
    await posted(db, "old")
    await Outbox(db).enqueue([card("old-update", "old")], T0)
    held = await Outbox(db).claim("one", T0, 10, lease=30)
    assert [d.event_id for d in held] == ["old-update"]
    await Outbox(db).enqueue([card("new-first-post", "new")], T0 + timedelta(seconds=1))
    # Urgent, but the conversation has a send in flight on another replica.
    assert await Outbox(second).claim("two", T0 + timedelta(seconds=2), 10, 30) == []
    await Outbox(db).complete(held[0].id, T0 + timedelta(seconds=2))
    taken = await Outbox(second).claim("two", T0 + timedelta(seconds=2), 10, 30)
    assert [d.event_id for d in taken] == ["new-first-post"]


async def test_a_live_replica_keeps_its_claims_and_a_dead_ones_are_taken_after_one_lease(
    db: SqlBackend, second: SqlBackend,
) -> None:
    outbox, other = Outbox(db), Outbox(second)
    await outbox.enqueue([card(f"e{n}", "a", f"c{n}") for n in range(6)], T0)
    alive = await outbox.claim("alive", T0, 3, lease=10)
    dying = await other.claim("dies", T0, 3, lease=10)
    assert len(alive) == len(dying) == 3
    # "alive" renews at 8 s (every third of a lease while it runs); "dies" was killed.
    assert await outbox.renew("alive", T0 + timedelta(seconds=8), 10) == 3
    later = T0 + timedelta(seconds=11)
    taken = await outbox.claim("alive", later, 10, lease=10)
    assert {d.id for d in taken} == {d.id for d in dying}, "only the dead replica's claims"
    # The dead replica cannot renew what another took meanwhile.
    assert await other.renew("dies", later, 10) == 0
    rows = await db.fetch_all("SELECT lease_owner FROM deliveries WHERE status = 'pending'")
    assert {row["lease_owner"] for row in rows} == {"alive"}


async def test_a_replica_that_stops_gives_back_what_it_has_not_sent(
    db: SqlBackend, second: SqlBackend,
) -> None:
    outbox = Outbox(db)
    await outbox.enqueue([card(f"e{n}", "a", f"c{n}") for n in range(4)], T0)
    held = await outbox.claim("stopping", T0, 4, lease=600)
    await outbox.complete(held[0].id, T0)
    assert await outbox.release("stopping") == 3
    taken = await Outbox(second).claim("other", T0, 10, lease=10)  # at once, not after 600 s
    assert {d.id for d in taken} == {d.id for d in held[1:]}


async def test_a_stopping_app_gives_back_the_deliveries_it_has_not_sent(
    aiohttp_client, database_url: str, connector: ConnectorStandIn,  # type: ignore[no-untyped-def]
) -> None:
    env = {"DATABASE_URL": database_url, "MONITORING_ENABLED": "false",
           "RULES_FILE": str(ROOT / "rules.toml"), "SHUTDOWN_TIMEOUT_SECONDS": "0.5",
           "DELIVERY_LEASE_SECONDS": "600"}
    client = await aiohttp_client(create_app(load_settings(environ=env, env_file=None)))
    teams = TeamsChannel(client, connector.url)
    await teams.ok("personal_bot_added")
    await teams.drained()  # the welcome
    connector.latency = 3.0  # the connector stalls: the card is still on its way at the stop
    await client.app[SERVICES].sink.publish([sample_alert()])
    leased = "SELECT 1 AS n FROM deliveries WHERE alert_id <> '' AND lease_until IS NOT NULL"
    await eventually_async(lambda: client.app[SERVICES].database.fetch_one(leased),
                           what="the card's delivery leased")
    await client.close()  # stops the app: in-flight sends get 0.5 s, then are given back

    db = await open_database(database_url)
    try:
        rows = await db.fetch_all("SELECT status, lease_until FROM deliveries "
                                  "WHERE alert_id <> ''")
    finally:
        await db.close()
    # Claimable at once by another replica or the next start, not after a 600 s lease.
    assert [(row["status"], row["lease_until"]) for row in rows] == [("pending", None)]


async def test_a_worker_holds_only_what_it_can_send_soon_at_its_share(
    db: SqlBackend,
) -> None:
    limiter = DeliveryLimiter(50.0)
    worker = DeliveryWorker(db, sender=None, limiter=limiter, concurrency=200)  # type: ignore[arg-type]
    assert worker.holding_limit() == 50 * CLAIM_AHEAD_SECONDS  # not all 200
    limiter.share(3)  # three replicas: 16 per second each
    assert worker.holding_limit() == 16 * CLAIM_AHEAD_SECONDS
    assert DeliveryWorker(db, sender=None, limiter=DeliveryLimiter(0.0),  # type: ignore[arg-type]
                          concurrency=64).holding_limit() == 64


# retention ---------------------------------------------------------------------------------

async def add_alert(db: SqlBackend, alert: str, is_open: bool, updated: datetime,
                    group_key: str | None = "room=a") -> None:
    stamp = updated.isoformat()
    await db.execute_atomically([
        ("INSERT INTO alerts (alert_id, rule, event, source, group_key, is_open, created_at, "
         "updated_at) VALUES (?, 'hot', '{}', 'influxdb', ?, ?, ?, ?)",
         (alert, group_key, int(is_open), stamp, stamp)),
        ("INSERT INTO incident_series (alert_id, series_key, data, updated_at) "
         "VALUES (?, 'room=a,sensor=1', '{}', ?)", (alert, stamp)),
        ("INSERT INTO alert_cards (alert_id, tenant_id, conversation_id, activity_id, "
         "updated_at) VALUES (?, ?, 'c1', ?, ?)", (alert, TENANT, f"act-{alert}", stamp)),
        ("INSERT INTO alert_silences (alert_id, silence_id, url, until, created_at) "
         "VALUES (?, 's', 'http://127.0.0.1:9093', ?, ?)", (alert, stamp, stamp)),
    ])


async def ids(db: SqlBackend, sql: str) -> set[str]:
    return {str(next(iter(row.values()))) for row in await db.fetch_all(sql)}


async def test_retention_prunes_what_is_old_and_keeps_what_is_open_or_young(
    db: SqlBackend,
) -> None:
    now = utcnow()
    old, young = now - timedelta(days=40), now - timedelta(hours=1)
    outbox = Outbox(db)
    # Deliveries: finished long ago (gone), finished lately or still pending (kept).
    await outbox.enqueue([note(f"old-done-{n}", "x", f"c{n}") for n in range(5)]
                         + [note("old-dead", "x", "d1"), note("old-pending", "x", "p1")], old)
    await outbox.enqueue([note("young-done", "x", "y1")], young)
    # Sent long ago, but their incident is still open (or an alert from before incidents):
    # they say who was told, so they stay.
    await outbox.enqueue([card("old-done-open", "open-old", "o1"),
                          card("old-done-legacy", "legacy", "o1")], old)
    for row in await db.fetch_all("SELECT id, event_id FROM deliveries"):
        if row["event_id"].startswith("old-done") or row["event_id"] == "young-done":
            await outbox.complete(row["id"], old if row["event_id"] != "young-done" else young)
        elif row["event_id"] == "old-dead":
            await outbox.park(row["id"], "gave up", old)
    # Incidents: resolved long ago (gone, with cards, series, silences); open, resolved lately,
    # or resolved long ago with a delivery still pending (kept).
    await add_alert(db, "resolved-old", False, old)
    await add_alert(db, "resolved-old-2", False, old)
    await add_alert(db, "open-old", True, old)
    await add_alert(db, "resolved-young", False, young)
    await add_alert(db, "resolved-old-pending", False, old)
    await add_alert(db, "legacy", False, old, group_key=None)
    await outbox.enqueue([card("final-card", "resolved-old-pending", "c9")], old)
    # Reactions, and an old audit entry (the audit trail keeps its own period).
    for name, at in (("old", old), ("young", young)):
        await db.execute(
            "INSERT INTO reactions (tenant_id, conversation_id, message_id, user_id, "
            "reaction_type, created_at) VALUES (?, 'c1', ?, 'u1', 'like', ?)",
            (TENANT, f"m-{name}", at.isoformat()))
    await db.execute_atomically([AuditLog.statement(AuditEntry(
        action="fired", at=old, actor=SYSTEM, alert_id="resolved-old", detail=""))])

    periods = RetentionPeriods(delivery_age=timedelta(hours=24),
                               incident_age=timedelta(days=30),
                               reaction_age=timedelta(days=30))
    deleted = await Retention(db, periods, batch=2).prune(now)  # several batches

    assert deleted == {"deliveries": 6, "alerts": 2, "alert_cards": 2, "incident_series": 2,
                       "alert_silences": 2, "reactions": 1}
    assert await ids(db, "SELECT event_id FROM deliveries") == {
        "old-pending", "young-done", "final-card", "old-done-open", "old-done-legacy"}
    kept = {"open-old", "resolved-young", "resolved-old-pending", "legacy"}
    assert await ids(db, "SELECT alert_id FROM alerts") == kept
    assert await ids(db, "SELECT alert_id FROM alert_cards") == kept
    assert await ids(db, "SELECT alert_id FROM incident_series") == kept
    assert await ids(db, "SELECT alert_id FROM alert_silences") == kept
    assert await ids(db, "SELECT message_id FROM reactions") == {"m-young"}
    assert await ids(db, "SELECT alert_id FROM audit_events") == {"resolved-old"}
    assert await Retention(db, periods).prune(now) == {}, "nothing more to delete"


async def test_table_sizes_are_read_at_scrape_time(db: SqlBackend) -> None:
    metrics = Metrics()
    watch_state(metrics, db)
    await Outbox(db).enqueue([note("e1", "x"), note("e2", "x", "c2")], T0)
    assert (await table_rows(db))["deliveries"] == 2
    body = (await metrics.render()).decode()
    assert 'heatwatch_table_rows{table="deliveries"} 2.0' in body
    assert all(f'heatwatch_table_rows{{table="{table}"}}' in body for table in COUNTED_TABLES)


def test_the_limiter_says_how_far_ahead_sends_are_reserved() -> None:
    now = [100.0]
    limiter = DeliveryLimiter(10.0, clock=lambda: now[0], margin=0.0)
    assert limiter.ahead() == 0.0
    for n in range(25):
        limiter.reserve(TENANT, f"c{n}")  # 10 per second: the last one 2 s from now
    assert limiter.ahead() == 2.0
    now[0] += 5.0
    assert limiter.ahead() == 0.0
    assert DeliveryLimiter(0.0).ahead() == 0.0  # no cap: nothing waits for it


def test_the_rate_limiter_holds_only_the_last_hour_of_sends() -> None:
    """Memory plateau: a chat told every 20 s for 5 hours holds an hour of stamps, not 1800."""
    now = [0.0]
    limiter = DeliveryLimiter(50.0, clock=lambda: now[0])
    for _ in range(900):
        limiter.reserve(TENANT, "c1")
        now[0] += 20.0
    assert limiter.held() <= 3600 / 20 + 2 + 50
    # The windows still hold: 8 sends at once are spread over Teams' 8 per 2 s.
    moments = [limiter.reserve(TENANT, "c2") for _ in range(9)]
    assert moments[8] - moments[0] >= 2.0


async def test_a_room_on_an_open_site_card_keeps_the_rows_that_say_where_it_shows(
    db: SqlBackend,
) -> None:
    """A chat that saw a resolved room only on a site card knows it by a delivery written
    done (storage/sites.py): while the site event is open, the card still lists the room."""
    now = utcnow()
    old = now - timedelta(days=3)
    outbox = Outbox(db)
    await add_alert(db, "room-a", False, now - timedelta(hours=1))  # resolved, young incident
    await add_alert(db, "room-b", False, now - timedelta(hours=1))
    await db.execute_atomically([
        ("INSERT INTO alerts (alert_id, rule, event, source, group_key, is_open, created_at, "
         "updated_at) VALUES ('site-1', 'hot', '{}', 'site', 'site\x1fsite=s', 1, ?, ?)",
         (old.isoformat(), old.isoformat())),
        ("INSERT INTO incident_series (alert_id, series_key, data, updated_at) "
         "VALUES ('site-1', 'room-a', '{}', ?)", (old.isoformat(),))])
    await outbox.enqueue([card("folded-a", "room-a", "c2"), card("folded-b", "room-b", "c2")],
                         old)
    for row in await db.fetch_all("SELECT id FROM deliveries"):
        await outbox.complete(row["id"], old)
    periods = RetentionPeriods(delivery_age=timedelta(hours=24))
    assert await Retention(db, periods).prune(now) == {"deliveries": 1}
    assert await ids(db, "SELECT event_id FROM deliveries") == {"folded-a"}


async def test_an_open_incident_keeps_one_finished_row_per_chat_and_kind_not_every_update(
    db: SqlBackend,
) -> None:
    """Live values update a card a minute while it is open: the rows that say a chat was told
    must not grow with them. The newest of each kind stays and says as much."""
    now = utcnow()
    outbox = Outbox(db)
    await add_alert(db, "open-1", True, now - timedelta(days=3))
    for minute in range(5):  # the post and four updates in c1, two days ago
        await outbox.enqueue([card(f"update-{minute}", "open-1", "c1")],
                             now - timedelta(days=2, minutes=-minute))
    await outbox.enqueue([note("reminder", "open-1", "c1"), card("only", "open-1", "c2")],
                         now - timedelta(days=2))
    for row in await db.fetch_all("SELECT id, created_at FROM deliveries"):
        await outbox.complete(row["id"], datetime.fromisoformat(row["created_at"]))
    deleted = await Retention(db, RetentionPeriods(delivery_age=timedelta(hours=24))).prune(now)
    assert deleted == {"deliveries": 4}
    assert await ids(db, "SELECT event_id FROM deliveries") == {"update-4", "reminder", "only"}
    told = await AlertStore(db).audience("open-1")
    assert told == {(TENANT, "c1"), (TENANT, "c2")}  # still told there: its end goes there
