"""Grafana alerting's webhook contact point as alert events.

The envelope is Alertmanager's (Grafana's alerting is built on it), plus `orgId`, `title`,
`state`, `message`, and per alert `values`, `dashboardURL`, `panelURL`, `silenceURL` and
`imageURL`. Incidents, series and severity are as for Alertmanager; the card links to the
dashboard, the panel, the image and Grafana's own silence page (*Silence*).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from notifier.inbound import alertmanager
from notifier.inbound.payload import Intake, PayloadError, at, link, obj, text

SOURCE = "grafana"
GRAFANA_LINKS = {"dashboardURL": "dashboard", "panelURL": "panel", "silenceURL": "silence",
                 "imageURL": "image"}


def _values(data: dict[str, Any], path: str) -> dict[str, float]:
    raw = data.get("values")
    if raw is None:
        return {}
    values = obj(raw, at(path, "values"))
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PayloadError(at(at(path, "values"), name), "expected a number")
    return {name: float(value) for name, value in values.items()}


def read_alert(data: Any, path: str) -> alertmanager.Alert:
    alert = alertmanager.read_alert(data, path)
    fields = obj(data, path)
    links = {name: link(text(fields, key, path, required=False))
             for key, name in GRAFANA_LINKS.items()}
    return alertmanager.Alert(
        status=alert.status, labels=alert.labels, annotations=alert.annotations,
        starts_at=alert.starts_at, ends_at=alert.ends_at, generator_url=alert.generator_url,
        fingerprint=alert.fingerprint, links={k: v for k, v in links.items() if v},
        values=_values(fields, path))


def parse(payload: Any) -> alertmanager.Notification:
    """Grafana's webhook payload; PayloadError names the field at fault."""
    data = obj(payload, "")
    if "orgId" in data and (isinstance(data["orgId"], bool)
                            or not isinstance(data["orgId"], int)):
        raise PayloadError("orgId", "expected a number")
    return alertmanager.read_envelope(data, read_alert)


def events(notification: alertmanager.Notification, now: datetime) -> list[Intake]:
    return alertmanager.events(notification, now, SOURCE)
