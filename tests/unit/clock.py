"""A fake clock for the unit tests: time moves only when a test says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

START = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


class FakeClock:
    """Wall-clock time (`now`) and a monotonic reading (`monotonic`) that advance together."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start
        self.seconds = 1000.0

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        self.seconds += seconds
        return self.now
