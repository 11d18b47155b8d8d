"""The embedded default: one SQLite file, one connection on one dedicated thread.

WAL journal with `synchronous=FULL`, so a write that returned survives a crash or power loss.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from common.errors import StorageError
from storage.backend import Params, Row, SqlBackend, Statement

log = logging.getLogger(__name__)
T = TypeVar("T")


def sqlite_path(database_url: str) -> Path:
    """`sqlite:///relative/file.db` or `sqlite:////absolute/file.db` to a path."""
    parsed = urlparse(database_url)
    if parsed.scheme != "sqlite" or not parsed.path or parsed.path == "/":
        raise StorageError(
            f"DATABASE_URL={database_url!r}: expected sqlite:///path/to/file.db"
        )
    path = parsed.path[1:] if parsed.path.startswith("/") else parsed.path
    return Path(path)


class SqliteBackend(SqlBackend):
    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = str(path)
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._executor is None or self._conn is None:
            raise StorageError("the SQLite store is not open")
        conn = self._conn
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, conn)
        except sqlite3.Error as error:
            self.failed()
            raise StorageError(f"SQLite error on {self.path}: {error}") from error

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StorageError(
                f"cannot create the folder for DATABASE_URL ({self.path.parent}): {error}. "
                "Point DATABASE_URL at a writable place."
            ) from error
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            return conn

        try:
            self._conn = await asyncio.get_running_loop().run_in_executor(self._executor, connect)
        except sqlite3.Error as error:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise StorageError(
                f"cannot open the SQLite database {self.path}: {error}. "
                "Check DATABASE_URL and the file's permissions."
            ) from error

    async def close(self) -> None:
        if self._executor is None:
            return
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=True)
        self._executor = None

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        def run(conn: sqlite3.Connection) -> list[Row]:
            return [dict(row) for row in conn.execute(sql, tuple(params)).fetchall()]

        return await self._run(run)

    async def execute(self, sql: str, params: Params = ()) -> int:
        return (await self.execute_atomically([(sql, params)]))[0]

    async def execute_atomically(self, statements: Sequence[Statement]) -> list[int]:
        def run(conn: sqlite3.Connection) -> list[int]:
            counts: list[int] = []
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    counts.append(conn.execute(sql, tuple(params)).rowcount)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return counts

        return await self._run(run)

    async def executescript(self, script: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in split_sql(script):
                    conn.execute(statement)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        await self._run(run)


def split_sql(script: str) -> list[str]:
    """Split a migration into statements (our migrations hold no `;` inside literals)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
