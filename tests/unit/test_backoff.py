"""The one backoff policy (common/retry.py), the send retry policy built on it
(notifier/delivery/sending.py), and `run_forever`'s logging and cancellation."""

from __future__ import annotations

import asyncio
import logging

import pytest

from common.retry import Backoff, FailureLog, run_forever
from notifier.delivery.sending import DeliveryError, FailureKind, retry_delay


def test_the_delay_doubles_from_the_base_up_to_the_cap() -> None:
    backoff = Backoff(0.5, 5.0)
    assert [backoff.ceiling(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff.ceiling(10_000) == 5.0  # no overflow
    assert backoff.ceiling(-1) == 0.5


def test_jitter_stays_within_its_bounds() -> None:
    backoff = Backoff(10.0, 300.0)  # the default jitter: half to all of the delay
    delays = [backoff.delay(2) for _ in range(200)]
    assert all(20.0 <= d <= 40.0 for d in delays)
    assert len(set(delays)) > 1


def test_no_jitter_is_exact() -> None:
    assert Backoff(0.5, 5.0, (1.0, 1.0)).delay(3) == 4.0


def test_the_pollers_backoff_keeps_near_its_interval() -> None:
    # Monitor.next_delay: base = interval, cap = max(interval, 60 s), +-10%.
    backoff = Backoff(15.0, 60.0, (0.9, 1.1))
    assert all(13.5 <= backoff.delay(0) <= 16.5 for _ in range(50))
    assert all(54.0 <= backoff.delay(5) <= 66.0 for _ in range(50))


def test_a_throttled_send_waits_at_least_what_the_connector_asked() -> None:
    backoff = Backoff(1.0, 30.0, (1.0, 1.0))
    throttled = DeliveryError(FailureKind.THROTTLED, "429", retry_after=7.0)
    assert retry_delay(throttled, 0, backoff) == 7.0
    assert retry_delay(throttled, 6, backoff) == 7.5  # a long streak backs off past it
    transient = DeliveryError(FailureKind.RETRY, "503")
    assert retry_delay(transient, 3, backoff) == 8.0


def test_a_failing_job_is_logged_once_per_problem_and_once_when_it_recovers(
        caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("tests.unit.backoff")
    failures = FailureLog(log, "Polling")
    with caplog.at_level(logging.DEBUG, "tests.unit.backoff"):
        failures.failed("timeout", 5.0)
        failures.failed("timeout", 10.0)
        failures.failed("refused")
        failures.recovered()
        failures.recovered()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "Polling failed: timeout; retrying in 5 s"),
        ("DEBUG", "Polling failed again: timeout"),
        ("ERROR", "Polling failed: refused"),
        ("INFO", "Polling works again"),
    ]


async def test_run_forever_retries_a_failing_step_and_stops_only_when_cancelled(
        caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []
    third = asyncio.Event()

    async def step() -> float:
        calls.append(len(calls))
        if len(calls) == 3:
            third.set()
            return 3600.0  # works: the next step would be in an hour
        raise OSError("refused")

    caplog.set_level(logging.INFO, "tests.unit.job")
    task = asyncio.create_task(run_forever(step, what="The job",
                                           log=logging.getLogger("tests.unit.job"),
                                           backoff=Backoff(0.001, 0.002)))
    await asyncio.wait_for(third.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls == [0, 1, 2]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == [
        "The job failed: refused; retrying in 0 s", "The job works again"]
