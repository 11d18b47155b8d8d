"""The typed alert store (notifier/alerts/store.py) over the real database, SQLite and
PostgreSQL: the documents the last release stored (tests/fixtures/documents) come back as
typed records, and a conversation's view of an incident holds its snooze there, for an incident
(read with the alert, by its group key) and for an alert recorded before incidents (by the
series key in its document)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.alerts.events import EventKind, Severity
from notifier.alerts.record import IncidentSnapshot
from notifier.alerts.store import AlertStore
from notifier.delivery.view import IncidentView
from storage.backend import SqlBackend
from storage.database import open_database

DOCUMENTS = Path(__file__).parents[1] / "fixtures" / "documents"
HERE = ("tenant-1", "19:chat")
ELSEWHERE = ("tenant-1", "19:other")


def document(name: str) -> str:
    return json.dumps(json.loads((DOCUMENTS / f"{name}.json").read_text())["document"],
                      sort_keys=True)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[SqlBackend]:
    backend = await open_database(database_url)
    yield backend
    await backend.close()


async def stored_as_the_last_release_did(db: SqlBackend, now: datetime) -> AlertStore:
    """An open incident (group key "room=r1") and an open alert recorded before incidents
    (no group key), each with a card in `HERE`, as the last release wrote them."""
    alerts = AlertStore(db)
    stamp = now.isoformat()
    await db.execute_atomically([
        ("INSERT INTO alerts (alert_id, rule, event, source, group_key, is_open, created_at, "
         "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
         ("incident-1", "server-room-temperature", document("incident"), "influxdb", "room=r1",
          1, stamp, stamp)),
        ("INSERT INTO alerts (alert_id, rule, event, created_at, updated_at) "
         "VALUES (?, ?, ?, ?, ?)",
         ("0123456789abcdef", "server-room-temperature", document("legacy_alert"), stamp,
          stamp)),
        alerts.card_statement("incident-1", *HERE, "activity-1"),
        alerts.card_statement("0123456789abcdef", *HERE, "activity-2"),
    ])
    return alerts


async def test_stored_documents_come_back_as_typed_records(db: SqlBackend) -> None:
    alerts = await stored_as_the_last_release_did(db, datetime.now(UTC))
    incident = await alerts.get("incident-1")
    assert incident is not None and incident.open
    assert incident.incident == IncidentSnapshot.loads(document("incident"))
    assert incident.incident.severity is Severity.CRIT
    legacy = await alerts.legacy_alert("0123456789abcdef")
    assert legacy is not None and legacy.incident.kind is EventKind.FIRED
    assert {a.alert_id for a in await alerts.open_alerts(HERE)} == {"incident-1",
                                                                    "0123456789abcdef"}
    assert await alerts.open_alerts(ELSEWHERE) == []


async def test_a_conversations_view_holds_its_snooze_and_card_there_only(db: SqlBackend) -> None:
    now = datetime.now(UTC)
    alerts = await stored_as_the_last_release_did(db, now)
    until = now + timedelta(hours=1)
    await db.execute_atomically([
        alerts.snooze_statement(*HERE, "server-room-temperature", "room=r1", until, "Alex",
                                "warn"),
        alerts.snooze_statement(*HERE, "server-room-temperature",
                                "room=r1\x1fsensor=rack-1", until, "Dana", "warn"),
    ])
    for alert_id, by, card in (("incident-1", "Alex", "activity-1"),
                               ("0123456789abcdef", "Dana", "activity-2")):
        view = await IncidentView.for_conversation(alerts, alert_id, HERE, now=now)
        assert view is not None and view.told and view.card_activity_id == card
        assert view.snooze is not None and view.snooze.by_name == by
        assert view.snooze.until == until
        elsewhere = await IncidentView.for_conversation(alerts, alert_id, ELSEWHERE, now=now)
        assert elsewhere is not None and elsewhere.snooze is None and not elsewhere.told
        assert elsewhere.card_activity_id is None
    # A snooze that ended holds no more.
    later = await IncidentView.for_conversation(alerts, "incident-1", HERE,
                                                now=until + timedelta(seconds=1))
    assert later is not None and later.snooze is None
