"""The small surface a SQL database must offer the store: run statements, atomically if asked.

SQL is written once with `?` placeholders and portable `INSERT ... ON CONFLICT` upserts; each
backend adapts placeholders. Timestamps are ISO-8601 UTC text, which sorts correctly everywhere.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

Row = dict[str, Any]
Params = Sequence[Any]
Statement = tuple[str, Params]


class SqlBackend(ABC):
    """One database connection (or pool). Every call is durable when it returns."""

    dialect: str

    @abstractmethod
    async def open(self) -> None:
        """Connect and make the file or server ready; raise StorageError with a fix if not."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...

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
