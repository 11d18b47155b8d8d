"""Values read back from what HeatWatch stored: a time or a number in a JSON document, or a
time in a database row. One reading for every layer (storage's rows, the alert core's
documents, the engine's series state): a value of another type reads as none, as a document of
an earlier release may hold one.
"""

from __future__ import annotations

from datetime import datetime


def time_of(value: object) -> datetime | None:
    """An ISO 8601 time as stored; None for anything else (None, "", another type)."""
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def time_text(value: datetime | None) -> str | None:
    """A time as stored: ISO 8601, or None."""
    return value.isoformat() if value else None


def number_of(value: object) -> float | None:
    """A JSON number as a float; None for anything else (a bool is no number here)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value,
                                                                             bool) else None
