"""`history` and `history <alert>` in chat: the last incidents, and one incident's timeline,
from the alerts table and the audit trail (`storage.audit`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from notifier.chat.actions import Actor
from notifier.delivery.cards import amount, duration, summary_line, when
from storage.alerts import AlertRecord
from storage.audit import SYSTEM, AuditEntry, AuditLog


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def history_list(incidents: list[AlertRecord], acks: dict[str, AuditEntry],
                 now: datetime) -> str:
    """One line per incident: start, end (or ongoing), duration, peak, who acknowledged and
    how long that took."""
    lines = []
    for alert in incidents:
        event = alert.event
        start = _time(event.get("since")) or _time(event.get("at"))
        end = _time(event.get("ended_at")) if not alert.open else None
        span = "-"
        if start is not None:
            span = (f"{when(start)} → {when(end)} ({duration((end - start).total_seconds())})"
                    if end is not None else
                    f"since {when(start)}, ongoing for {duration((now - start).total_seconds())}")
        peak = event.get("peak") if event.get("peak") is not None else event.get("value")
        parts = [span]
        if peak is not None:
            parts.append(f"peak {amount(peak, event.get('unit', ''))}")
        ack = acks.get(alert.alert_id)
        if ack is not None:
            after = f" after {duration((ack.at - start).total_seconds())}" if start else ""
            parts.append(f"acknowledged by {ack.actor}{after}")
        else:
            parts.append("not acknowledged")
        lines.append(f"- `{alert.alert_id[:8]}` **{summary_line(event)}**: "
                     + " · ".join(parts))
    return ("Last incidents, newest first (**history** *alert* shows one's timeline):\n\n"
            + "\n".join(lines))


def _step(entry: AuditEntry, actor: Actor) -> str:
    where = ""
    if entry.conversation_id:
        where = " (here)" if entry.conversation_id == actor.conversation_id else \
            " (in another conversation)"
    who = "" if entry.actor == SYSTEM else f" by {entry.actor}"
    detail = f": {entry.detail}" if entry.detail else ""
    return f"- {when(entry.at)} **{entry.action}**{who}{where}{detail}"


async def history_of(audit: AuditLog, alert: AlertRecord, actor: Actor) -> str:
    """The incident's timeline: fired, became critical, escalated, acknowledged, snoozed,
    silenced (and the silence expired), resolved, each with who and when."""
    entries = await audit.of_alert(alert.alert_id)
    if not entries:
        return (f"Nothing is recorded about `{alert.alert_id[:8]}` "
                f"({summary_line(alert.event)}) any more.")
    return (f"Timeline of `{alert.alert_id[:8]}` ({summary_line(alert.event)}):\n\n"
            + "\n".join(_step(entry, actor) for entry in entries))
