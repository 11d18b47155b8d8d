"""`history` and `history <alert>` in chat: the last incidents, and one incident's timeline,
from the alerts table and the audit trail (`storage.audit`).

The list and the timeline use the same instants and words: an incident "fired at" the moment
of its `fired` audit entry (when HeatWatch opened it and told people; the readings may have
been over the threshold a little longer, during the rule's `for`), and "acknowledged ... after"
counts from that same moment. Times are in the asker's time zone (`common/times.py`).
"""

from __future__ import annotations

from datetime import datetime

from common.durations import duration_words
from common.literal import shown
from common.times import UNKNOWN_ZONE_NOTE, at
from notifier.alerts.record import AlertRecord
from notifier.chat.actions import Actor
from notifier.delivery.cards import NAME_LIMIT, VALUE_LIMIT, amount, summary_line
from storage.audit import SYSTEM, AuditEntry, AuditLog


def _note(actor: Actor) -> str:
    return "" if actor.time_zone else f"; {UNKNOWN_ZONE_NOTE}"


def history_list(incidents: list[AlertRecord], fires: dict[str, AuditEntry],
                 acks: dict[str, AuditEntry], now: datetime, actor: Actor) -> str:
    """One line per incident: when it fired, when it ended (or that it goes on), how long,
    the peak, who acknowledged and how long after it fired."""
    lines = []
    for alert in incidents:
        event = alert.incident
        fire = fires.get(alert.alert_id)
        # Incidents whose `fired` entry aged out of the audit trail: the incident's own start.
        start = fire.at if fire else (event.since or event.at)
        end = event.ended_at if not alert.open else None
        span = "-"
        if start is not None:
            span = f"fired at {at(start, actor.time_zone)}, " + (
                f"ended at {at(end, actor.time_zone)} "
                f"(after {duration_words((end - start).total_seconds())})" if end is not None else
                f"still open after {duration_words((now - start).total_seconds())}")
        peak = event.peak if event.peak is not None else event.value
        parts = [span]
        if peak is not None:
            parts.append(f"peak {amount(peak, event.unit)}")
        ack = acks.get(alert.alert_id)
        if ack is not None:
            after = f" after {duration_words((ack.at - start).total_seconds())}" if start else ""
            parts.append(f"acknowledged by {shown(ack.actor, NAME_LIMIT)}{after}")
        else:
            parts.append("not acknowledged")
        lines.append(f"- `{alert.alert_id[:8]}` **{summary_line(event)}**: "
                     + " · ".join(parts))
    return (f"Last incidents, newest first (**history** *alert* shows one's timeline"
            f"{_note(actor)}):\n\n" + "\n".join(lines))


_KINDS = {"fired": "", "no-data": "no data", "source-down": "the data source is down"}
_SEVERITIES = {"warn": "warning", "crit": "critical"}


def _fired_detail(detail: str) -> str:
    """The `fired` entry's detail ("fired, severity warn", as the planner records it) in
    words: "warning", "no data", "critical"."""
    kind, _, severity = detail.partition(", severity ")
    words = [_KINDS.get(kind, kind), _SEVERITIES.get(severity, "")]
    return ", ".join(word for word in words if word and word != "-")


def _step(entry: AuditEntry, actor: Actor, fired: datetime | None) -> str:
    where = ""
    if entry.conversation_id:
        where = " (here)" if entry.conversation_id == actor.conversation_id else \
            " (in another conversation)"
    who = "" if entry.actor == SYSTEM else f" by {shown(entry.actor, NAME_LIMIT)}"
    detail = _fired_detail(entry.detail) if entry.action == "fired" else entry.detail
    if entry.action == "acknowledged" and fired is not None:
        # The same words as the list: how long after it fired.
        detail = f"after {duration_words((entry.at - fired).total_seconds())}"
    return f"- {at(entry.at, actor.time_zone)} **{entry.action}**{who}{where}" + (
        f": {shown(detail, VALUE_LIMIT)}" if detail else "")


async def history_of(audit: AuditLog, alert: AlertRecord, actor: Actor) -> str:
    """The incident's timeline: fired, became critical, escalated, acknowledged, snoozed,
    silenced (and the silence expired), resolved, each with who and when."""
    entries = await audit.of_alert(alert.alert_id)
    if not entries:
        return (f"Nothing is recorded about `{alert.alert_id[:8]}` "
                f"({summary_line(alert.incident)}) any more.")
    fired = next((entry.at for entry in entries if entry.action == "fired"), None)
    return (f"Timeline of `{alert.alert_id[:8]}` ({summary_line(alert.incident)}{_note(actor)}):"
            "\n\n" + "\n".join(_step(entry, actor, fired) for entry in entries))
