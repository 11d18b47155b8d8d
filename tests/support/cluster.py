"""Several `python app.py` replicas on one database, one connector stand-in and one InfluxDB:
what the replica test and the scale-out benchmark run."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from notifier.alerts.events import AlertEvent, EventKind, Severity
from storage.backend import SqlBackend
from storage.models import ConversationUpsert, Scope
from storage.registry import ConversationRegistry
from tests.servers.influx import ADMIN, ADMIN_PASSWORD, InfluxServer
from tests.support.process import AppProcess

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
BOT = {"id": "28:f5d48856-5b42-41a0-8c3a-c5f944b679b0", "name": "HeatWatch"}
RULE = '[[rule]]\nname = "hot"\nmeasurement = "temperature"\ncrit_above = 30.0\nrepeat = "0"\n'


def personal_reference(service_url: str, index: int) -> dict:
    return {"bot": BOT, "user": {"id": f"29:user-{index}", "aadObjectId": f"aad-{index}"},
            "conversation": {"id": f"a:person-{index}", "conversationType": "personal",
                             "tenantId": TENANT},
            "channelId": "msteams", "serviceUrl": service_url}


def sample_alert() -> AlertEvent:
    """A fresh critical alert for one sensor (benchmarks publish it straight to the outbox)."""
    now = datetime.now(UTC)
    return AlertEvent(kind=EventKind.FIRED, rule="server-room", alert_id=f"{time.time_ns()}",
                      at=now, series={"room": "r1", "sensor": "s1"}, severity=Severity.CRIT,
                      value=35.0, threshold=32.0, unit="°C", since=now)


async def register_people(db: SqlBackend, service_url: str, count: int) -> list[str]:
    """`count` personal chats, as if each person had installed the app."""
    registry = ConversationRegistry(db)
    ids = []
    for index in range(count):
        reference = personal_reference(service_url, index)
        ids.append(reference["conversation"]["id"])
        await registry.upsert_conversation(ConversationUpsert(
            tenant_id=TENANT, conversation_id=ids[-1], scope=Scope.PERSONAL,
            service_url=service_url, reference=reference, user_aad_object_id=f"aad-{index}"))
    return ids


def replica_env(database_url: str, influx: InfluxServer, influx_database: str, rules: Path,
                **extra: str) -> dict[str, str]:
    """Anonymous replicas (the connector stand-in takes no tokens) polling every second."""
    return {"DATABASE_URL": database_url, "RULES_FILE": str(rules), "INFLUX_URL": influx.url,
            "INFLUX_DATABASE": influx_database, "INFLUX_USERNAME": ADMIN,
            "INFLUX_PASSWORD": ADMIN_PASSWORD, "POLL_INTERVAL_SECONDS": "1",
            "DELIVERY_LEASE_SECONDS": "10", "LOG_LEVEL": "INFO", **extra}


def poller_role(replica: AppProcess) -> str:
    """"leader", "standby (...)", or "down"."""
    try:
        with urllib.request.urlopen(replica.url + "/readyz", timeout=5) as response:
            return str(json.loads(response.read())["checks"].get("poller", "?"))
    except (urllib.error.URLError, OSError):
        return "down"


def leaders(replicas: list[AppProcess]) -> list[AppProcess]:
    return [r for r in replicas if r.process is not None and r.process.poll() is None
            and poller_role(r) == "leader"]
