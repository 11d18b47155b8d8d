"""Teams' send limits (notifier/delivery/ratelimit.py) with a fake monotonic clock: per
conversation 7 per 1 s, 8 per 2 s, 60 per 30 s, 1800 per hour; per tenant a cap per second,
shared between replicas. Source: Microsoft Learn, "Optimize your bot with rate limiting and
best practices in Microsoft Teams" (per bot per thread limits)."""

from __future__ import annotations

from notifier.delivery.ratelimit import CONVERSATION_WINDOWS, DeliveryLimiter, SlidingWindows
from tests.unit.clock import FakeClock


def limiter(tenant_per_second: float = 50.0, margin: float = 0.0) -> tuple[DeliveryLimiter,
                                                                            FakeClock]:
    clock = FakeClock()
    return DeliveryLimiter(tenant_per_second, clock=clock.monotonic, margin=margin), clock


def test_the_documented_per_conversation_windows() -> None:
    assert CONVERSATION_WINDOWS == ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))


def test_seven_sends_go_at_once_and_the_eighth_waits_a_second() -> None:
    limits, clock = limiter()
    start = clock.monotonic()
    moments = [limits.reserve("t", "c") for _ in range(8)]
    assert moments[:7] == [start] * 7
    assert moments[7] == start + 1.0


def test_the_two_second_window_holds_back_the_ninth() -> None:
    limits, clock = limiter()
    start = clock.monotonic()
    moments = [limits.reserve("t", "c") for _ in range(9)]
    assert moments[8] == start + 2.0


def test_sixty_per_thirty_seconds() -> None:
    limits, clock = limiter()
    start = clock.monotonic()
    moments = [limits.reserve("t", "c") for _ in range(61)]
    assert moments[60] >= start + 30.0
    assert moments[59] < start + 30.0


def test_conversations_have_their_own_windows() -> None:
    limits, clock = limiter()
    start = clock.monotonic()
    for _ in range(7):
        limits.reserve("t", "a")
    assert limits.reserve("t", "b") == start


def test_the_tenant_cap_spreads_sends_across_conversations() -> None:
    limits, clock = limiter(tenant_per_second=3)
    start = clock.monotonic()
    moments = [limits.reserve("t", f"c{i}") for i in range(4)]
    assert moments == [start, start, start, start + 1.0]
    assert limits.reserve("other-tenant", "c0") == start


def test_the_margin_widens_every_window() -> None:
    limits, clock = limiter(margin=0.05)
    start = clock.monotonic()
    moments = [limits.reserve("t", "c") for _ in range(8)]
    assert moments[7] == start + 1.05


def test_replicas_share_the_tenant_cap() -> None:
    limits, _ = limiter(tenant_per_second=50)
    assert limits.tenant_share == 50.0
    assert limits.share(3) == 16.0
    assert limits.tenant_share == 16.0
    assert limiter(tenant_per_second=0)[0].share(3) == 0.0  # no cap


def test_time_moving_on_frees_the_window() -> None:
    limits, clock = limiter()
    for _ in range(7):
        limits.reserve("t", "c")
    clock.advance(1.0)
    assert limits.reserve("t", "c") == clock.monotonic()


def test_a_send_counts_from_when_it_ended() -> None:
    windows = SlidingWindows(((1, 1.0),))
    windows.record("c", 10.0)
    windows.settle("c", reserved=10.0, ended=10.4)  # the request took 0.4 s
    assert windows.earliest("c", 10.0) == 11.4


def test_idle_conversations_are_forgotten() -> None:
    windows = SlidingWindows(((1, 1.0), (2, 5.0)))
    windows.record("old", 0.0)
    windows.record("new", 100.0)
    windows.forget_idle(now=101.0)
    assert windows.earliest("old", 0.0) == 0.0  # nothing kept
    assert windows.earliest("new", 100.0) == 101.0
