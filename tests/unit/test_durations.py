"""Durations as people write them in rules and chat, and as cards and texts say them
(common/durations.py)."""

from __future__ import annotations

import pytest

from common.durations import duration_words, parse_duration


@pytest.mark.parametrize("text,seconds", [
    ("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("250ms", 0.25), ("1d", 86400.0),
    ("1.5h", 5400.0), (" 2m30s ", 150.0), ("0", 0.0), ("45", 45.0), (12, 12.0), (0.5, 0.5),
])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5x", "m", "-5m", -1, True, None, "5 minutes", [5]])
def test_bad_durations_are_value_errors(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize("seconds,words", [
    (0, "0 s"), (45, "45 s"), (60, "1 min"), (3599, "59 min"), (3600, "1 h"),
    (7500, "2 h 5 min"), (86400, "1 d"), (3 * 86400 + 4 * 3600, "3 d 4 h"), (-5, "0 s")])
def test_durations_in_words(seconds: float, words: str) -> None:
    assert duration_words(seconds) == words
