"""PostgreSQL for several replicas: one asyncpg pool, the same SQL as SQLite (`?` placeholders
rewritten to `$n`), and an advisory lock for the one job only one replica may run.

Reconnects on its own: the pool replaces connections that broke (a server restart), and a
statement that failed on such a connection is tried once more on a fresh one. That is safe
for HeatWatch's writes: they are upserts and conditional updates, so one that had in fact
committed before the connection broke changes nothing the second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import zlib
from collections.abc import AsyncIterator, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlparse

import asyncpg

from common.errors import StorageError
from common.logs import redacted_url
from common.retry import Backoff
from common.settings import database_url_problem
from storage.backend import Leadership, Params, Row, SqlBackend, Statement
from storage.sqlite import split_sql

log = logging.getLogger(__name__)

# Errors that mean "this connection is gone", not "this statement is wrong": worth one retry.
_CONNECTION_ERRORS = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.InterfaceError,
    ConnectionError,
    OSError,
)
_QUOTED_OR_MARK = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?")
_COUNT = re.compile(r"(\d+)$")


@lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """`?` placeholders to PostgreSQL's `$1, $2, ...` (quoted text is left alone)."""
    counter = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal counter
        if match.group(0) != "?":
            return match.group(0)
        counter += 1
        return f"${counter}"

    return _QUOTED_OR_MARK.sub(replace, sql)


def _count(status: str) -> int:
    """Rows changed, from a command tag such as `UPDATE 3` or `INSERT 0 1`."""
    match = _COUNT.search(status or "")
    return int(match.group(1)) if match else 0


def lock_key(name: str) -> int:
    """A stable 64-bit advisory lock key for a name (CRC32 in the low half, "HW" above)."""
    return (0x4857 << 32) | zlib.crc32(name.encode())


class PostgresBackend(SqlBackend):
    dialect = "postgresql"
    shared = True

    def __init__(self, database_url: str, pool_size: int = 10,
                 connect_timeout: float = 10.0) -> None:
        problem = database_url_problem(database_url)  # the check settings make at start
        if problem:
            raise StorageError(problem)
        parsed = urlparse(database_url)
        self.url = database_url
        self.description = redacted_url(database_url)
        self.user = unquote(parsed.username or "")
        self.database = parsed.path.strip("/")
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout
        self._pool: asyncpg.Pool | None = None

    # connecting ------------------------------------------------------------------------

    async def connect_one(self) -> asyncpg.Connection:
        """A connection of its own (outside the pool), with a clear error if refused."""
        try:
            return await asyncpg.connect(self.url, timeout=self._connect_timeout)
        except Exception as error:  # asyncpg raises many kinds; all mean "cannot connect"
            raise self._connect_error(error) from None

    def _connect_error(self, error: BaseException) -> StorageError:
        where = self.description
        if isinstance(error, asyncpg.exceptions.InvalidPasswordError):
            return StorageError(f"PostgreSQL refused the password of user {self.user!r} "
                                f"({where}): fix the user or password in DATABASE_URL.")
        if isinstance(error, asyncpg.exceptions.InvalidAuthorizationSpecificationError):
            return StorageError(f"PostgreSQL refused user {self.user!r} ({where}): "
                                f"{error.__class__.__name__}. Fix the user in DATABASE_URL or "
                                "the server's pg_hba.conf.")
        if isinstance(error, asyncpg.exceptions.InvalidCatalogNameError):
            return StorageError(f"PostgreSQL has no database {self.database!r} ({where}): "
                                f"create it (CREATE DATABASE {self.database}) or fix "
                                "DATABASE_URL.")
        if isinstance(error, OSError | TimeoutError | asyncio.TimeoutError):
            return StorageError(f"Cannot reach PostgreSQL at {where} ({error.__class__.__name__}"
                                f": {error}). Is the server running, and are host and port in "
                                "DATABASE_URL right?")
        return StorageError(f"Cannot connect to PostgreSQL at {where}: "
                            f"{error.__class__.__name__}: {error}")

    async def open(self, wait: float = 30.0) -> None:
        """Connect the pool. A server that is not up yet (replicas and database starting
        together) is waited for up to `wait` seconds; a refused login fails at once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        backoff = Backoff(0.5, 5.0, (1.0, 1.0))  # 0.5, 1, 2, 4, 5, 5 ... s
        attempt = 0
        while True:
            try:
                self._pool = await asyncpg.create_pool(
                    self.url, min_size=1, max_size=self._pool_size,
                    timeout=self._connect_timeout, command_timeout=60,
                    max_inactive_connection_lifetime=300)
                return
            except Exception as error:
                problem = self._connect_error(error)
                transient = isinstance(error, OSError | TimeoutError
                                       | asyncpg.exceptions.CannotConnectNowError)
                delay = backoff.delay(attempt)
                if not transient or loop.time() + delay > deadline:
                    raise problem from None
                if attempt == 0:
                    log.warning("%s Retrying for up to %.0f s.", problem, wait)
                await asyncio.sleep(delay)
                attempt += 1

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                async with asyncio.timeout(10):
                    await pool.close()
            except TimeoutError:
                pool.terminate()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        if self._pool is None:
            raise StorageError("the PostgreSQL store is not open")
        async with self._pool.acquire() as connection:
            yield connection

    async def _run(self, operation: Any) -> Any:
        """Run `operation(connection)`; once more on a fresh connection if the first broke."""
        for attempt in (1, 2):
            try:
                async with self._connection() as connection:
                    return await operation(connection)
            except asyncpg.PostgresError as error:
                if isinstance(error, _CONNECTION_ERRORS) and attempt == 1:
                    continue
                self.failed()
                raise StorageError(f"PostgreSQL error ({self.description}): "
                                   f"{error.__class__.__name__}: {error}") from error
            except _CONNECTION_ERRORS as error:
                if attempt == 1:
                    continue
                self.failed()
                raise StorageError(f"PostgreSQL unreachable ({self.description}): "
                                   f"{error.__class__.__name__}: {error}") from error
        raise AssertionError("unreachable")

    # statements ------------------------------------------------------------------------

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async def run(connection: asyncpg.Connection) -> list[Row]:
            return [dict(row) for row in await connection.fetch(numbered(sql), *params)]

        return list(await self._run(run))

    async def execute(self, sql: str, params: Params = ()) -> int:
        async def run(connection: asyncpg.Connection) -> int:
            return _count(await connection.execute(numbered(sql), *params))

        return int(await self._run(run))

    async def execute_atomically(self, statements: Sequence[Statement]) -> list[int]:
        async def run(connection: asyncpg.Connection) -> list[int]:
            async with connection.transaction():
                return [_count(await connection.execute(numbered(sql), *params))
                        for sql, params in statements]

        return list(await self._run(run))

    async def executescript(self, script: str) -> None:
        async def run(connection: asyncpg.Connection) -> None:
            async with connection.transaction():
                for statement in split_sql(script):
                    await connection.execute(statement)

        await self._run(run)

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """Hold a session advisory lock while the block runs (replicas migrating at once)."""
        connection = await self.connect_one()
        try:
            await connection.execute("SELECT pg_advisory_lock($1)", lock_key(name))
            yield
        finally:
            with contextlib.suppress(Exception):
                await connection.execute("SELECT pg_advisory_unlock($1)", lock_key(name))
            await connection.close()

    def leadership(self, name: str, lost_after: float) -> Leadership:
        return AdvisoryLockLeadership(self, name, lost_after)


class AdvisoryLockLeadership(Leadership):
    """Leader = holder of a session advisory lock on a connection of its own.

    If the process dies, its connection closes and the server frees the lock at once. If the
    leader is cut off instead, the server ends its idle session after `lost_after` seconds
    (`idle_session_timeout`; the leader touches it every poll) and frees the lock then.
    """

    def __init__(self, backend: PostgresBackend, name: str, lost_after: float) -> None:
        self._backend = backend
        self._key = lock_key(name)
        self._name = name
        self._idle_ms = int(lost_after * 1000)
        self._connection: asyncpg.Connection | None = None

    async def acquire(self) -> bool:
        if self._connection is not None:
            return await self.confirm()
        connection = await self._backend.connect_one()
        try:
            async with asyncio.timeout(10):
                if connection.get_server_version().major >= 14:  # the setting is new in 14
                    await connection.execute(f"SET idle_session_timeout = {self._idle_ms}")
                held = bool(await connection.fetchval("SELECT pg_try_advisory_lock($1)",
                                                      self._key))
        except BaseException:
            connection.terminate()
            raise
        if not held:
            await connection.close()
            return False
        self._connection = connection
        return True

    async def confirm(self) -> bool:
        connection = self._connection
        if connection is None:
            return False
        try:
            async with asyncio.timeout(5):
                # A session lock lives as long as its session, and asyncpg never reconnects a
                # connection behind our back: an answer on this connection means we hold it.
                held = await connection.fetchval("SELECT 1")
            if held:
                return True
        except Exception:  # noqa: BLE001 - any failure here means the session is unusable
            pass
        self._connection = None
        connection.terminate()
        return False

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await connection.execute("SELECT pg_advisory_unlock($1)", self._key)
                    await connection.close()
            if not connection.is_closed():
                connection.terminate()
