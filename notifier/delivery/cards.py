"""Alert messages as Adaptive Cards 1.5 (what Teams renders), built from plain data.

One card per alert per conversation shows the alert's current state; its buttons are
Universal Actions (`Action.Execute`) with verbs `ack`, `unack` and `snooze`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.alerts import AlertRecord, Snooze

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SNOOZE_CHOICES = ((1, "Snooze 1 h"), (24, "Snooze 24 h"))

_TITLES = {
    "fired": "{severity}: {rule}",
    "escalated": "{severity}: {rule}",
    "de-escalated": "{severity}: {rule}",
    "reminder": "{severity}: {rule}",
    "resolved": "Resolved: {rule}",
    "no-data": "No data: {rule}",
    "data-back": "Data is back: {rule}",
    "source-down": "Temperature data source is down",
    "source-up": "Temperature data source is back",
    "test": "TEST: {rule} (not a real alert)",
}
_COLORS = {"crit": "Attention", "warn": "Warning"}


def when(value: str | datetime | None) -> str:
    if value is None:
        return "-"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def amount(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:g} {unit}".strip()


def alert_card(alert: AlertRecord, snooze: Snooze | None = None) -> dict[str, Any]:
    event = alert.event
    kind = event.get("kind", "fired")
    severity = event.get("severity")
    title = _TITLES.get(kind, "{rule}").format(
        severity={"crit": "CRITICAL", "warn": "Warning"}.get(severity or "", "Alert"),
        rule=event.get("rule") or "HeatWatch")
    color = _COLORS.get(severity or "", "Default") if alert.open and kind != "no-data" else (
        "Good" if kind in ("resolved", "data-back", "source-up") else "Warning")
    unit = event.get("unit", "")
    facts = [{"title": tag.capitalize(), "value": str(value)}
             for tag, value in sorted((event.get("series") or {}).items())]
    if event.get("value") is not None:
        facts.append({"title": "Value", "value": amount(event.get("value"), unit)})
    if event.get("threshold") is not None:
        facts.append({"title": "Threshold", "value": amount(event.get("threshold"), unit)})
    facts.append({"title": "Since", "value": when(event.get("since") or event.get("at"))})
    if not alert.open and kind != "test":
        facts.append({"title": "Ended", "value": when(event.get("at"))})
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium",
         "color": color, "wrap": True},
        {"type": "FactSet", "facts": facts},
    ]
    if event.get("detail"):
        body.append({"type": "TextBlock", "text": event["detail"], "wrap": True,
                     "isSubtle": True})
    if alert.acknowledged_by:
        body.append({"type": "TextBlock", "wrap": True, "text":
                     f"Acknowledged by {alert.acknowledged_by} at {when(alert.acknowledged_at)}"})
    if snooze is not None:
        by = f" by {snooze.by_name}" if snooze.by_name else ""
        body.append({"type": "TextBlock", "wrap": True,
                     "text": f"Snoozed here{by} until {when(snooze.until)}"})
    body.append({"type": "TextBlock", "text": f"Alert {alert.alert_id[:8]}", "size": "Small",
                 "isSubtle": True})
    actions: list[dict[str, Any]] = []
    if alert.open:
        data = {"alertId": alert.alert_id}
        if alert.acknowledged_by:
            actions.append({"type": "Action.Execute", "title": "Undo acknowledge",
                            "verb": "unack", "data": data})
        else:
            actions.append({"type": "Action.Execute", "title": "Acknowledge", "verb": "ack",
                            "data": data})
        if event.get("series"):
            actions += [{"type": "Action.Execute", "title": label, "verb": "snooze",
                         "data": {**data, "hours": hours}} for hours, label in SNOOZE_CHOICES]
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return card


def card_activity(card: dict[str, Any], summary: str) -> dict[str, Any]:
    return {"type": "message", "summary": summary,
            "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card}]}


def text_activity(text: str) -> dict[str, Any]:
    return {"type": "message", "text": text, "textFormat": "markdown"}


def where(event: dict[str, Any]) -> str:
    """The series in words: "room server-room-1, sensor rack-3-inlet"."""
    return ", ".join(f"{k} {v}" for k, v in sorted((event.get("series") or {}).items()))


def summary(event: dict[str, Any]) -> str:
    """One line for notifications: "server-room-temperature warning: room ..., 27.5 °C"."""
    value = amount(event.get("value"), event.get("unit", ""))
    detail = ", ".join(part for part in (where(event), value) if part and part != "-")
    rule = event.get("rule") or "HeatWatch"
    return f"{rule} {event.get('kind')}: {detail}" if detail else f"{rule} {event.get('kind')}"


def _rule_and_detail(event: dict[str, Any], value_label: str) -> str:
    value = amount(event.get("value"), event.get("unit", ""))
    parts = [where(event)] + ([f"{value_label} {value}"] if value and value != "-" else [])
    detail = ", ".join(part for part in parts if part)
    rule = f"**{event.get('rule') or 'HeatWatch'}**"
    return f"{rule} ({detail})" if detail else rule


def reminder_text(event: dict[str, Any]) -> str:
    return (f"Still firing: {_rule_and_detail(event, 'now')}, "
            f"since {when(event.get('since'))}")


def resolved_text(event: dict[str, Any]) -> str:
    kind = event.get("kind")
    if kind == "data-back":
        return f"Data is back: {_rule_and_detail(event, 'now')}"
    if kind == "source-up":
        return "The temperature data source is back."
    return f"Resolved: {_rule_and_detail(event, 'now')}"
