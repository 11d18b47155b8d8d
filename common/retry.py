"""Backoff with jitter, and the one helper for background jobs that must never stop.

`run_forever` runs a job step after step; a failing step is logged once per distinct problem
(a repeat of the same problem is DEBUG), retried with exponential backoff and full jitter, and
its recovery is logged once. `asyncio.CancelledError` always propagates, so shutdown works.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """The one backoff policy of HeatWatch (delivery retries, background jobs, the poller
    while its source fails, connecting to PostgreSQL): `base * 2**attempt` (attempt 0 is the
    first retry), capped at `cap`, times a jitter factor drawn uniformly from `jitter`.

    The default jitter, [0.5, 1.0] of the delay, spreads retries of many senders apart while
    keeping at least half the wait; the poller keeps +-10% around its interval instead, so its
    polls stay near the configured cadence."""

    base: float = 1.0
    cap: float = 300.0
    jitter: tuple[float, float] = (0.5, 1.0)

    def ceiling(self, attempt: int) -> float:
        """The delay before jitter."""
        return min(self.cap, self.base * 2.0 ** min(max(attempt, 0), 30))

    def delay(self, attempt: int) -> float:
        low, high = self.jitter
        return self.ceiling(attempt) * random.uniform(low, high)


class FailureLog:
    """Logs a failing job once per distinct problem, and once when it works again."""

    def __init__(self, log: logging.Logger, what: str, level: int = logging.ERROR) -> None:
        self._log = log
        self._what = what
        self._level = level
        self.problem: str | None = None

    def failed(self, problem: str, retry_in: float | None = None) -> None:
        """`retry_in`: when the job tries again (None: it says nothing of a retry)."""
        if problem != self.problem and retry_in is None:
            self._log.log(self._level, "%s failed: %s", self._what, problem)
        elif problem != self.problem:
            self._log.log(self._level, "%s failed: %s; retrying in %.0f s", self._what, problem,
                          retry_in)
        else:
            self._log.debug("%s failed again: %s", self._what, problem)
        self.problem = problem

    def recovered(self) -> None:
        if self.problem is not None:
            self._log.info("%s works again", self._what)
        self.problem = None


async def run_forever(step: Callable[[], Awaitable[float]], *, what: str,
                      log: logging.Logger, backoff: Backoff = Backoff(5.0, 300.0),
                      describe: Callable[[Exception], str] = str) -> None:
    """Await `step()` forever; it returns how long to wait before the next step. A step that
    raises is retried after a backoff (longer after each consecutive failure)."""
    failures = FailureLog(log, what)
    attempt = 0
    while True:
        try:
            wait = await step()
            failures.recovered()
            attempt = 0
        except asyncio.CancelledError:
            raise
        except Exception as error:
            wait = backoff.delay(attempt)
            failures.failed(describe(error) or error.__class__.__name__, wait)
            attempt += 1
        await asyncio.sleep(wait)
