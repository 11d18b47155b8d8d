"""Reading a JSON payload strictly: the body must be JSON a sender could mean (`parse_json`),
and every problem with its fields names the field at fault, like `alerts[2].labels.severity`."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from itertools import accumulate
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


class BadJson(ValueError):
    """A body that is not JSON HeatWatch takes: not UTF-8, not JSON, nested too deep, a number
    too large, NaN or Infinity."""


# Alertmanager's, Grafana's and InfluxDB's payloads are at most 4 levels deep (body, alerts,
# alert, labels); 32 leaves room, and stays far below Python's recursion limit (1000), which
# `json` and everything walking the payload would otherwise hit (`[` x 100,000 was a 500).
MAX_DEPTH = 32
# Numbers: whole numbers must fit a signed 64-bit integer (Go's int64, InfluxDB's nanosecond
# timestamps, SQLite's INTEGER and PostgreSQL's bigint), others must be finite (1e400 is
# infinity in Python); NaN and Infinity are not JSON (RFC 8259, section 6).
LARGEST_INTEGER = 2 ** 63 - 1
_ESCAPE = re.compile(r"\\.", re.DOTALL)
_STRING = re.compile(r'"[^"]*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def nesting(document: str) -> int:
    """How deep the arrays and objects of a JSON text go (brackets in strings do not count).

    Escapes first (only strings hold them), then strings, then what is not a bracket: what is
    left is the structure, up to the first thing that is not JSON (where `json` stops too)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", _ESCAPE.sub("", document)))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _constant(name: str) -> Any:
    raise BadJson(f"{name} is not a JSON number")


def _integer(digits: str) -> int:
    value = int(digits) if len(digits) <= 20 else None
    if value is None or abs(value) > LARGEST_INTEGER:
        raise BadJson(f"a whole number of {len(digits)} digits is too large (at most 2^63-1)")
    return value


def _float(digits: str) -> float:
    value = float(digits)
    if not math.isfinite(value):
        raise BadJson(f"the number {digits[:20]}{'…' if len(digits) > 20 else ''} is too "
                      "large")
    return value


def _check_text(payload: Any) -> None:
    """Every string (values and keys) is text: no NUL, no lone surrogate (`"\\ud800"` is
    valid JSON but no UTF-8 can carry it, so storing or sending it would fail later)."""
    stack: list[tuple[Any, str]] = [(payload, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if not _is_text(key):
                    raise PayloadError(path or "(body)", "a key is not text (NUL or a lone "
                                                         "surrogate)")
                stack.append((item, at(path, key)))
        elif isinstance(value, list):
            stack.extend((item, at(path, index)) for index, item in enumerate(value))
        elif isinstance(value, str) and not _is_text(value):
            raise PayloadError(path or "(body)", "not text (NUL or a lone surrogate)")


def _is_text(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_json(body: bytes) -> Any:
    """The body as JSON: UTF-8 (RFC 8259 8.1), at most `MAX_DEPTH` deep, numbers that fit.
    BadJson says what is wrong; PayloadError names a string that is not text."""
    try:
        document = body.decode("utf-8")
    except UnicodeDecodeError as problem:
        raise BadJson(f"not UTF-8 (byte {problem.start})") from None
    depth = nesting(document)
    if depth > MAX_DEPTH:
        raise BadJson(f"nested {depth} levels deep (at most {MAX_DEPTH})")
    try:
        payload = json.loads(document, parse_constant=_constant, parse_int=_integer,
                             parse_float=_float)
    except BadJson:
        raise
    except (ValueError, RecursionError) as problem:
        raise BadJson(str(problem)) from None
    _check_text(payload)
    return payload


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
    return None if moment.year <= 1 else in_utc(moment, at(path, key))


EARLIEST_YEAR, LATEST_YEAR = 1970, 2999


def in_utc(moment: datetime, field: str) -> datetime:
    """An aware time in UTC, in years 1970 to 2999: anything else is no alert's time, and
    `9999-12-31T23:59:59-05:00` overflows the moment it is converted or added to."""
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        moment = datetime.min.replace(tzinfo=UTC)
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise PayloadError(field, f"expected a time in the years {EARLIEST_YEAR} to "
                                  f"{LATEST_YEAR}")
    return moment


def link(value: str) -> str:
    """A URL fit for a card button (http or https, of sane length), else empty."""
    return web_link(value)


TEXT_LIMIT = 1500  # characters of a sender's free text kept (cards clip again when shown)


def clip(value: str, limit: int = TEXT_LIMIT) -> str:
    """Free text cut to fit a card, saying so."""
    return literal.clip(value, limit)


KEY_LIMIT = 200  # characters of a sender's name or key that HeatWatch keys and indexes by


def bounded(value: str, limit: int = KEY_LIMIT) -> str:
    """A sender's name or key (alert name, check, fingerprint, tag set) short enough to be part
    of an index: a PostgreSQL B-tree entry cannot exceed about a third of a page, 2704 bytes of
    8 KB ("after TOAST compression", https://www.postgresql.org/docs/current/btree-intro.html),
    and a check with many tags was a 503 forever. At most 200 characters (800 bytes of UTF-8)
    for each of the two or three keys of an entry; a longer one keeps its start and a digest of
    the whole (different keys stay different)."""
    if len(value) <= limit:
        return value
    return value[:limit - 34].rstrip() + " …" + digest(value)


def digest(*parts: Any) -> str:
    """A stable id of some JSON-able values."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()
                          ).hexdigest()[:32]


# What a receiver hands on: each event with the id of the alert state it tells (the same
# notification twice has the same ids, so it changes nothing).
Intake = tuple[str, AlertEvent]
