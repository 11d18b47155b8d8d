"""Reading a JSON payload strictly: every problem names the field at fault, like
`alerts[2].labels.severity`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from common import literal
from common.errors import HeatWatchError
from common.literal import web_link
from notifier.alerts.events import AlertEvent


class PayloadError(HeatWatchError, ValueError):
    """A payload that is not what its sender documents; `field` is the path at fault. Also a
    ValueError: the parsers below raise it where a conversion (int(), fromisoformat) would."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(path or "(body)", "expected a JSON object")
    return value


def array(data: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise PayloadError(at(path, key), "expected a list" if key in data else "missing")
    return value


def text(data: Mapping[str, Any], key: str, path: str, required: bool = True,
         choices: tuple[str, ...] = ()) -> str:
    if key not in data or data[key] is None:
        if required:
            raise PayloadError(at(path, key), "missing")
        return ""
    value = data[key]
    if not isinstance(value, str) or (required and not value):
        raise PayloadError(at(path, key), "expected a non-empty string")
    if choices and value not in choices:
        raise PayloadError(at(path, key), f"expected one of {', '.join(choices)}, "
                                          f"got {value[:40]!r}")
    return value


def strings(data: Mapping[str, Any], key: str, path: str, required: bool = True
            ) -> dict[str, str]:
    """An object of string values (labels, annotations)."""
    if key not in data or data[key] is None:
        if required:
            raise PayloadError(at(path, key), "missing")
        return {}
    value = obj(data[key], at(path, key))
    for name, item in value.items():
        if not isinstance(item, str):
            raise PayloadError(at(at(path, key), name), "expected a string")
    return dict(value)


def integer(data: Mapping[str, Any], key: str, path: str, default: int = 0) -> int:
    value = data.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PayloadError(at(path, key), "expected a whole number, 0 or more")
    return value


def timestamp(data: Mapping[str, Any], key: str, path: str,
              required: bool = True) -> datetime | None:
    """An RFC 3339 time; Go's zero time (`0001-01-01T00:00:00Z`) means none."""
    raw = text(data, key, path, required)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise PayloadError(at(path, key), f"expected an RFC 3339 time, got {raw[:40]!r}"
                           ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return None if moment.year <= 1 else moment.astimezone(UTC)


def link(value: str) -> str:
    """A URL fit for a card button (http or https, of sane length), else empty."""
    return web_link(value)


TEXT_LIMIT = 1500  # characters of a sender's free text kept (cards clip again when shown)


def clip(value: str, limit: int = TEXT_LIMIT) -> str:
    """Free text cut to fit a card, saying so."""
    return literal.clip(value, limit)


def digest(*parts: Any) -> str:
    """A stable id of some JSON-able values."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()
                          ).hexdigest()[:32]


# What a receiver hands on: each event with the id of the alert state it tells (the same
# notification twice has the same ids, so it changes nothing).
Intake = tuple[str, AlertEvent]
