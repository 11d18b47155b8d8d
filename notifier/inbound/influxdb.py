"""An InfluxDB 2 HTTP notification endpoint's notifications as alert events.

A notification rule posts one status row of a check per request: `_check_id`, `_check_name`,
`_level` (`crit`, `warn`, `info`, `ok`), `_message`, `_status_timestamp` (nanoseconds since
the epoch), InfluxDB's other `_`-fields, and the row's tags (string values) and field values
(numbers). One incident per check; its series are the check's tag sets. `crit` is critical,
`warn` and `info` are warnings, `ok` resolves the series. Each row's state (check, tags, level,
status time) has a stable id, so a row delivered twice changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from notifier.alerts.events import AlertEvent, EventKind, Severity, make_alert_id, series_key
from notifier.inbound.payload import (
    Intake,
    PayloadError,
    bounded,
    clip,
    digest,
    in_utc,
    obj,
    text,
)

SOURCE = "influxdb-check"
LEVELS = ("crit", "warn", "info", "ok")
_SEVERITY = {"crit": Severity.CRIT, "warn": Severity.WARN, "info": Severity.WARN}


def _status_time(data: dict[str, Any]) -> datetime:
    value = data.get("_status_timestamp")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        # parse_json keeps whole numbers below 2^63: nanoseconds up to the year 2262.
        return in_utc(datetime.fromtimestamp(value / 1e9, UTC), "_status_timestamp")
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return in_utc(moment if moment.tzinfo else moment.replace(tzinfo=UTC),
                          "_status_timestamp")
    raise PayloadError("_status_timestamp", "missing" if value is None else
                       "expected nanoseconds since the epoch (or an RFC 3339 time)")


def events(payload: Any, now: datetime) -> list[Intake]:
    """The status row as one event; PayloadError names the field at fault."""
    data = obj(payload, "")
    check_id = bounded(text(data, "_check_id", ""))
    check = bounded(text(data, "_check_name", ""))
    level = text(data, "_level", "", choices=LEVELS)
    message = text(data, "_message", "", required=False)
    if "_message" in data and not isinstance(data["_message"], str):
        raise PayloadError("_message", "expected a string")
    status_at = _status_time(data)
    tags = {k: v for k, v in data.items() if not k.startswith("_") and isinstance(v, str)}
    numbers = [v for k, v in sorted(data.items()) if not k.startswith("_")
               and isinstance(v, int | float) and not isinstance(v, bool)]
    key = bounded(f"{check_id}|{series_key(tags)}")
    firing = level != "ok"
    event = AlertEvent(
        kind=EventKind.FIRED if firing else EventKind.RESOLVED, rule=check,
        alert_id=make_alert_id(f"{SOURCE}:{check_id}", key, status_at), at=now,
        series=tags, severity=_SEVERITY.get(level), value=float(numbers[0])
        if len(numbers) == 1 else None, since=status_at, source=SOURCE, key=key,
        group={"check": check}, group_key=f"{SOURCE}:{check_id}", description=clip(message))
    return [(digest(SOURCE, check_id, key, level, status_at, message), event)]
