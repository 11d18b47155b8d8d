"""The small surface a SQL database must offer the store: run statements, atomically if asked.

SQL is written once with `?` placeholders and portable `INSERT ... ON CONFLICT` upserts; each
backend adapts placeholders. Timestamps are ISO-8601 UTC text, which sorts correctly everywhere.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

Row = dict[str, Any]
Params = Sequence[Any]
Statement = tuple[str, Params]


class Leadership(ABC):
    """Which replica may run a job that must run once (the InfluxDB poller)."""

    @abstractmethod
    async def acquire(self) -> bool:
        """Try to become (or stay) the leader; True if this replica leads now."""

    @abstractmethod
    async def confirm(self) -> bool:
        """Whether this replica still leads; False once it lost its claim."""

    @abstractmethod
    async def release(self) -> None: ...


class SoleLeadership(Leadership):
    """An embedded database has one process: it always leads."""

    async def acquire(self) -> bool:
        return True

    async def confirm(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class SqlBackend(ABC):
    """One database connection (or pool). Every call is durable when it returns."""

    dialect: str
    description: str = ""
    # Whether several processes (replicas) use the database at once. Then outbox claims lock
    # rows with `FOR UPDATE ... SKIP LOCKED`, a lease outlives its process's restart (another
    # replica may hold it), and replicas count each other. Embedded databases: one process.
    shared: bool = False
    # Called on every failed operation (the metrics count them); set by the composition root.
    on_error: Callable[[], None] | None = None

    def failed(self) -> None:
        if self.on_error is not None:
            self.on_error()

    @abstractmethod
    async def open(self) -> None:
        """Connect and make the file or server ready; raise StorageError with a fix if not."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        """Rows of a query, or of one `UPDATE ... RETURNING` (atomic, committed)."""

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement in its own transaction; return the number of rows it changed."""

    @abstractmethod
    async def execute_atomically(self, statements: Sequence[Statement]) -> list[int]:
        """Run statements in one transaction: all are committed or none."""

    @abstractmethod
    async def executescript(self, script: str) -> None:
        """Run a DDL script (a migration) in one transaction."""

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """Run the block while no other process sharing the database runs a block of the same
        name (schema migrations at start). Embedded databases have one process."""
        yield

    def leadership(self, name: str, lost_after: float) -> Leadership:
        """The election for job `name`; a lost leader is noticed within `lost_after` s."""
        return SoleLeadership()
