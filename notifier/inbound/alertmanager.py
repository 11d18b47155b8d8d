"""Alertmanager's webhook notification (payload version 4) as alert events.

One incident per `groupKey` (Alertmanager's aggregation group); its series are the group's
alerts by `fingerprint`. A firing alert fires its series; a resolved one leaves the incident
(its series is back to ok); the incident resolves when every series has. The severity comes
from the alert's `severity` label: `critical`, `crit`, `error`, `page`, `high` and `p1` are
critical; anything else (`warning`, `info`, none) is a warning (HeatWatch has two levels).

Alertmanager repeats a group's notification every `repeat_interval`; each alert's state (status,
start, end, severity, annotations) has a stable id, so a repeat, or a retry of the same
notification, changes nothing, while a changed annotation updates the card.

Grafana's webhook contact point sends the same envelope (see `notifier.inbound.grafana`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from notifier.alerts.events import AlertEvent, EventKind, Severity, make_alert_id
from notifier.inbound.payload import (
    Intake,
    PayloadError,
    array,
    at,
    bounded,
    clip,
    digest,
    integer,
    link,
    obj,
    strings,
    text,
    timestamp,
)

SOURCE = "alertmanager"
STATUSES = ("firing", "resolved")
CRITICAL = frozenset({"critical", "crit", "error", "page", "high", "p1", "disaster"})
LINK_ANNOTATIONS = {"runbook_url": "runbook", "dashboard_url": "dashboard"}


def severity_of(labels: dict[str, str]) -> Severity:
    return Severity.CRIT if labels.get("severity", "").strip().lower() in CRITICAL \
        else Severity.WARN


@dataclass(frozen=True)
class Alert:
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    fingerprint: str
    links: dict[str, str] = field(default_factory=dict)  # sender-specific (Grafana's)
    values: dict[str, float] = field(default_factory=dict)

    @property
    def firing(self) -> bool:
        return self.status == "firing"


@dataclass(frozen=True)
class Notification:
    receiver: str
    status: str
    group_key: str
    group_labels: dict[str, str]
    common_labels: dict[str, str]
    common_annotations: dict[str, str]
    external_url: str
    truncated: int
    alerts: tuple[Alert, ...]
    title: str = ""  # Grafana's


def read_alert(data: Any, path: str) -> Alert:
    data = obj(data, path)
    starts_at = timestamp(data, "startsAt", path)
    if starts_at is None:  # Go's zero time: a firing alert always has a start
        raise PayloadError(at(path, "startsAt"), "expected a time, not Go's zero time")
    return Alert(
        status=text(data, "status", path, choices=STATUSES),
        labels=strings(data, "labels", path),
        annotations=strings(data, "annotations", path, required=False),
        starts_at=starts_at,
        ends_at=timestamp(data, "endsAt", path, required=False),
        generator_url=text(data, "generatorURL", path, required=False),
        fingerprint=text(data, "fingerprint", path),
    )


def read_envelope(payload: Any, alert: Any = read_alert) -> Notification:
    """The fields Alertmanager and Grafana share; `alert` reads one alert."""
    data = obj(payload, "")
    alerts = array(data, "alerts", "")
    if not alerts:
        raise PayloadError("alerts", "expected at least one alert")
    return Notification(
        receiver=text(data, "receiver", "", required=False),
        status=text(data, "status", "", choices=STATUSES),
        group_key=text(data, "groupKey", ""),
        group_labels=strings(data, "groupLabels", "", required=False),
        common_labels=strings(data, "commonLabels", "", required=False),
        common_annotations=strings(data, "commonAnnotations", "", required=False),
        external_url=link(text(data, "externalURL", "", required=False)),
        truncated=integer(data, "truncatedAlerts", ""),
        alerts=tuple(alert(item, at("alerts", index)) for index, item in enumerate(alerts)),
        title=text(data, "title", "", required=False),
    )


def parse(payload: Any) -> Notification:
    """Alertmanager's webhook payload; PayloadError names the field at fault."""
    data = obj(payload, "")
    if str(data.get("version")) != "4":
        raise PayloadError("version", "missing (Alertmanager sends \"4\")" if "version" not in
                           data else f"expected \"4\" (the webhook payload version this "
                           f"receiver reads), got {str(data['version'])[:10]!r}")
    return read_envelope(data)


def rule_of(notification: Notification) -> str:
    """The incident's name, stable for its group: the group's alert name, else its labels."""
    labels = notification.group_labels
    return (labels.get("alertname") or ", ".join(v for _, v in sorted(labels.items()))
            or notification.receiver or "alert group")


def description_of(alert: Alert, notification: Notification) -> str:
    """The `summary` and `description` annotations: the group's common ones when the
    notification has several alerts (so the card does not tell one alert's text as the
    group's), else the alert's own; a summary at least."""
    common = notification.common_annotations
    alone = len(notification.alerts) == 1
    parts = [common.get("summary") or alert.annotations.get("summary", ""),
             common.get("description") or (alert.annotations.get("description", "")
                                           if alone else "")]
    return clip("\n\n".join(dict.fromkeys(part.strip() for part in parts if part.strip())))


def links_of(alert: Alert, notification: Notification, source: str) -> dict[str, str]:
    annotations = {**notification.common_annotations, **alert.annotations}
    links = {name: link(annotations[key]) for key, name in LINK_ANNOTATIONS.items()
             if key in annotations}
    links["source"] = link(alert.generator_url)
    if source == SOURCE:
        links["alertmanager"] = notification.external_url
    links.update(alert.links)
    return {name: url for name, url in links.items() if url}


def events(notification: Notification, now: datetime, source: str = SOURCE) -> list[Intake]:
    """The notification's alerts as events of one incident (firing ones first, so that a
    notification that opens the incident opens it with them)."""
    rule = bounded(rule_of(notification))
    group = dict(notification.group_labels) or {"receiver": notification.receiver or "-"}
    group_key = f"{source}:" + digest(source, notification.group_key)
    detail = (f"{notification.truncated} more alert(s) of this group were not sent "
              "(max_alerts)" if notification.truncated else "")
    intakes: list[Intake] = []
    for alert in sorted(notification.alerts, key=lambda a: not a.firing):
        severity = severity_of(alert.labels)
        description = description_of(alert, notification)
        event = AlertEvent(
            kind=EventKind.FIRED if alert.firing else EventKind.RESOLVED,
            rule=rule, alert_id=make_alert_id(f"{source}:{rule}", alert.fingerprint,
                                              alert.starts_at),
            at=now, series=dict(alert.labels), severity=severity if alert.firing else None,
            value=next(iter(alert.values.values()), None) if len(alert.values) == 1 else None,
            since=alert.starts_at, detail=detail, source=source, key=bounded(alert.fingerprint),
            group=group, group_key=group_key, description=description,
            links=links_of(alert, notification, source))
        state = digest(source, notification.group_key, alert.fingerprint, alert.status,
                       alert.starts_at, alert.ends_at if not alert.firing else None,
                       severity, sorted(alert.annotations.items()),
                       sorted(alert.labels.items()))
        intakes.append((state, event))
    return intakes
