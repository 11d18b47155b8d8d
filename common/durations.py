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


def duration_words(seconds: float) -> str:
    """ "45 s", "12 min", "2 h 5 min", "3 d 4 h" """
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
