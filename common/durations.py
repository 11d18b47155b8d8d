"""Durations as people write them in rules and chat: "90s", "5m", "1h30m", "250ms", "1d"."""

from __future__ import annotations

import re
from typing import Any

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*(ms|s|m|h|d))+\s*$")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """`"90s"`, `"5m"`, `"1h30m"`, `"250ms"`, or a number of seconds (also quoted: `"0"`)."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d+(?:\.\d+)?\s*", value):
        value = float(value)
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(value)
        return float(value)
    if isinstance(value, str) and _DURATION.match(value):
        return sum(float(n) * _UNITS[u] for n, u in _PART.findall(value))
    raise ValueError(value)
