"""The handoff card's account of the last shift (notifier/delivery/handoff.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from notifier.alerts.schedules import Shift
from notifier.delivery.handoff import handoff_card

SINCE = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
SHIFT = Shift(schedule="dc", person="alex", until=None, next_person=None, since=SINCE)


def last_shift(counts: dict[str, int]) -> str:
    card = handoff_card("dc", SHIFT, "Megan", "Alex", [], counts, SINCE, "Sun 06 Dec")
    return next(item["text"] for item in card["body"] if str(item.get("text", ""))
                .startswith("Since "))


def test_the_last_shift_is_counted_in_words_that_agree_with_the_count() -> None:
    assert last_shift({"fired": 1, "escalated": 1}).endswith(
        ": 1 incident began, 1 escalation step.")
    assert last_shift({"fired": 2, "acknowledged": 2, "escalated": 3}).endswith(
        ": 2 incidents began, 2 acknowledged, 3 escalation steps.")
    assert last_shift({}).endswith(": nothing: no incident, no action.")
