"""The alert store as the rest of HeatWatch uses it: storage's rows (storage/alerts.py, with
its statements, cards, snoozes and audiences) read as typed records (notifier/alerts/record.py).
Which stored alerts are open, and that test cards are no incidents, are decided here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from notifier.alerts.events import EventKind
from notifier.alerts.incidents import Member
from notifier.alerts.record import AlertRecord
from storage.alerts import AlertRows, Key, Snooze
from storage.inbound import Silence


@dataclass(frozen=True)
class AlertHere:
    """An alert as one conversation sees it, read at once: its silence in force, the
    conversation's mute, and whether the conversation was told of it."""

    alert: AlertRecord
    silence: Silence | None
    muted_until: datetime | None
    told: bool
    snooze: Snooze | None  # its snooze in that conversation
    card_activity_id: str | None  # its card's message there, once posted


class AlertStore(AlertRows):
    async def get(self, alert_id: str) -> AlertRecord | None:
        row = await self.get_row(alert_id)
        return AlertRecord.of(row) if row else None

    async def find(self, prefix: str, told: Key | None = None) -> list[AlertRecord]:
        """Alerts whose id starts with `prefix` (at most 5); with `told`, only those that
        conversation was told of."""
        return [AlertRecord.of(row) for row in await self.find_rows(prefix, told)]

    async def open_alerts(self, told: Key | None = None) -> list[AlertRecord]:
        """Alerts whose latest event leaves them open (firing, no data, source down); with
        `told`, only those that conversation was told of."""
        return [alert for alert in map(AlertRecord.of, await self.open_rows(told)) if alert.open]

    async def here(self, alert_id: str, where: Key, now: datetime) -> AlertHere | None:
        """The alert as the conversation `where` sees it: one query for an incident; an alert
        recorded before incidents needs a second for its snooze (its series key is only in
        its document)."""
        here = await self.here_row(alert_id, where, now)
        if here is None:
            return None
        alert = AlertRecord.of(here.alert)
        incident = alert.incident
        snooze = here.snooze
        if not here.alert.incident:
            snooze = (await self.snooze_here(where, alert.rule, incident.series_key, now)
                      if incident.series else None)
        return AlertHere(alert, here.silence, here.muted_until, here.told,
                         snooze if incident.series else None, here.card_activity_id)

    async def open_incident(self, source: str, rule: str, group_key: str) -> AlertRecord | None:
        row = await self.open_incident_row(source, rule, group_key)
        return AlertRecord.of(row) if row else None

    async def open_incident_with(self, source: str, rule: str,
                                 series_key: str) -> AlertRecord | None:
        """The open incident of `rule` that holds this series (for an event that cannot name
        its group any more, such as the end of a rule removed from the rules file)."""
        row = await self.open_incident_row_with(source, rule, series_key)
        return AlertRecord.of(row) if row else None

    async def legacy_alert(self, alert_id: str) -> AlertRecord | None:
        """An alert recorded before incidents (one per series), if still open."""
        row = await self.legacy_row(alert_id)
        record = AlertRecord.of(row) if row else None
        return record if record is not None and record.open else None

    async def incident_series(self, alert_id: str) -> dict[str, Member]:
        """An incident's series, by key."""
        return {key: Member.from_json(key, json.loads(data))
                for key, data in (await self.series_rows(alert_id)).items()}

    async def recent_incidents(self, limit: int, told: Key | None = None) -> list[AlertRecord]:
        """The latest incidents (open or ended, not test cards), newest first; with `told`,
        only those that conversation was told of."""
        return [alert for alert in map(AlertRecord.of, await self.recent_rows(limit, told))
                if alert.incident.kind is not EventKind.TEST]

    async def incidents_since(self, since: datetime, source: str,
                              limit: int = 10_000) -> list[AlertRecord]:
        """The incidents of `source` open now or updated since `since` (the exposure report),
        oldest first, at most `limit`."""
        return [AlertRecord.of(row) for row in await self.rows_since(since, source, limit)]
