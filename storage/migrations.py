"""Schema migrations, applied in order and recorded; a schema change is a new entry, never a drop.

The SQL is portable between SQLite and PostgreSQL: TEXT keys, ISO-8601 UTC text timestamps.
"""

from __future__ import annotations

import logging

from common.clock import utcnow
from storage.backend import SqlBackend

log = logging.getLogger(__name__)

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "conversation registry",
        """
        CREATE TABLE conversations (
            tenant_id TEXT NOT NULL,
            conversation_id TEXT NOT NULL,
            scope TEXT NOT NULL,
            team_id TEXT,
            team_name TEXT,
            channel_name TEXT,
            user_aad_object_id TEXT,
            user_name TEXT,
            service_url TEXT NOT NULL,
            reference TEXT NOT NULL,
            status TEXT NOT NULL,
            welcomed_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (tenant_id, conversation_id)
        );
        CREATE INDEX conversations_team ON conversations (tenant_id, team_id);
        CREATE INDEX conversations_user ON conversations (tenant_id, user_aad_object_id);
        CREATE TABLE teams (
            tenant_id TEXT NOT NULL,
            team_id TEXT NOT NULL,
            name TEXT,
            status TEXT NOT NULL,
            alert_channel_id TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (tenant_id, team_id)
        );
        CREATE TABLE members (
            tenant_id TEXT NOT NULL,
            container_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            aad_object_id TEXT,
            name TEXT,
            user_principal_name TEXT,
            email TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (tenant_id, container_id, user_id)
        );
        CREATE TABLE reactions (
            tenant_id TEXT NOT NULL,
            conversation_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            reaction_type TEXT NOT NULL,
            user_aad_object_id TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY (tenant_id, conversation_id, message_id, user_id, reaction_type)
        )
        """,
    ),
    (
        2,
        "alert state",
        """
        CREATE TABLE alert_state (
            rule TEXT NOT NULL,
            series_key TEXT NOT NULL,
            state TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (rule, series_key)
        )
        """,
    ),
    (
        3,
        "alerts, cards, delivery outbox, preferences",
        """
        CREATE TABLE alerts (
            alert_id TEXT PRIMARY KEY,
            rule TEXT NOT NULL,
            event TEXT NOT NULL,
            acknowledged_by TEXT,
            acknowledged_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE alert_cards (
            alert_id TEXT NOT NULL,
            tenant_id TEXT NOT NULL,
            conversation_id TEXT NOT NULL,
            activity_id TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (alert_id, tenant_id, conversation_id)
        );
        CREATE INDEX alert_cards_activity ON alert_cards (tenant_id, conversation_id, activity_id);
        CREATE TABLE deliveries (
            id TEXT PRIMARY KEY,
            event_id TEXT NOT NULL,
            alert_id TEXT NOT NULL,
            tenant_id TEXT NOT NULL,
            conversation_id TEXT NOT NULL,
            operation TEXT NOT NULL,
            payload TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            next_attempt_at TEXT NOT NULL,
            lease_until TEXT,
            lease_owner TEXT,
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (event_id, tenant_id, conversation_id, operation)
        );
        CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
        CREATE INDEX deliveries_conversation
            ON deliveries (tenant_id, conversation_id, status, created_at);
        CREATE TABLE snoozes (
            tenant_id TEXT NOT NULL,
            conversation_id TEXT NOT NULL,
            rule TEXT NOT NULL,
            series_key TEXT NOT NULL,
            until TEXT NOT NULL,
            by_name TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY (tenant_id, conversation_id, rule, series_key)
        );
        CREATE TABLE subscriptions (
            tenant_id TEXT NOT NULL,
            conversation_id TEXT NOT NULL,
            rule TEXT NOT NULL,
            subscribed INTEGER NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (tenant_id, conversation_id, rule)
        );
        CREATE TABLE mutes (
            tenant_id TEXT NOT NULL,
            conversation_id TEXT NOT NULL,
            until TEXT NOT NULL,
            by_name TEXT,
            PRIMARY KEY (tenant_id, conversation_id)
        )
        """,
    ),
    (
        4,
        "replicas",
        """
        CREATE TABLE replicas (
            replica_id TEXT PRIMARY KEY,
            started_at TEXT NOT NULL,
            seen_at TEXT NOT NULL
        )
        """,
    ),
    (
        5,
        "data source outages",
        """
        CREATE TABLE source_health (
            source TEXT PRIMARY KEY,
            failing_since TEXT,
            down_alert_id TEXT,
            last_error TEXT,
            updated_at TEXT NOT NULL
        )
        """,
    ),
    (
        7,
        "incidents",
        """
        ALTER TABLE alerts ADD COLUMN source TEXT NOT NULL DEFAULT 'influxdb';
        ALTER TABLE alerts ADD COLUMN group_key TEXT;
        ALTER TABLE alerts ADD COLUMN is_open INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX alerts_open_groups ON alerts (is_open, source, rule, group_key);
        CREATE TABLE incident_series (
            alert_id TEXT NOT NULL,
            series_key TEXT NOT NULL,
            data TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (alert_id, series_key)
        )
        """,
    ),
    (
        8,
        "handled activities",
        """
        CREATE TABLE handled_activities (
            tenant_id TEXT NOT NULL,
            conversation_id TEXT NOT NULL,
            activity_id TEXT NOT NULL,
            done INTEGER NOT NULL DEFAULT 0,
            started_at TEXT NOT NULL,
            PRIMARY KEY (tenant_id, conversation_id, activity_id)
        );
        CREATE INDEX handled_activities_started ON handled_activities (started_at)
        """,
    ),
    (
        9,
        "audit trail, snooze severity",
        """
        CREATE TABLE audit_events (
            id TEXT PRIMARY KEY,
            at TEXT NOT NULL,
            action TEXT NOT NULL,
            alert_id TEXT,
            tenant_id TEXT NOT NULL,
            conversation_id TEXT NOT NULL,
            actor TEXT NOT NULL,
            detail TEXT NOT NULL
        );
        CREATE INDEX audit_events_alert ON audit_events (alert_id, at);
        CREATE INDEX audit_events_at ON audit_events (at);
        ALTER TABLE snoozes ADD COLUMN severity TEXT
        """,
    ),
    (
        11,
        "alertmanager silences",
        """
        CREATE TABLE alert_silences (
            alert_id TEXT PRIMARY KEY,
            silence_id TEXT NOT NULL,
            url TEXT NOT NULL,
            until TEXT NOT NULL,
            created_by TEXT,
            created_at TEXT NOT NULL
        )
        """,
    ),
    (
        12,
        "inbound notifications seen",
        """
        CREATE TABLE inbound_seen (
            state_id TEXT PRIMARY KEY,
            receiver TEXT NOT NULL,
            seen_at TEXT NOT NULL
        );
        CREATE INDEX inbound_seen_age ON inbound_seen (seen_at)
        """,
    ),
    (
        13,
        "on-call overrides taken in chat",
        """
        CREATE TABLE oncall_overrides (
            id TEXT PRIMARY KEY,
            schedule TEXT NOT NULL,
            person TEXT NOT NULL,
            starts_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            by_name TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX oncall_overrides_end ON oncall_overrides (ends_at)
        """,
    ),
    (
        14,
        "the time zone of a personal chat",
        """
        ALTER TABLE conversations ADD COLUMN time_zone TEXT
        """,
    ),
]


async def migrate(backend: SqlBackend) -> int:
    """Bring the schema up to date; return the version it is at."""
    await backend.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    rows = await backend.fetch_all("SELECT version FROM schema_migrations")
    applied = {int(row["version"]) for row in rows}
    current = max(applied, default=0)
    for version, name, script in MIGRATIONS:
        if version in applied:
            continue
        log.info("Applying schema migration %d (%s)", version, name)
        await backend.executescript(
            script
            + ";\nINSERT INTO schema_migrations (version, name, applied_at) VALUES "
            + f"({version}, '{name}', '{utcnow().isoformat()}')"
        )
        current = version
    return current
