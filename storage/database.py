"""Open the database named by DATABASE_URL and bring its schema up to date."""

from __future__ import annotations

import logging
from urllib.parse import urlparse

from common.errors import StorageError
from common.settings import database_url_problem
from storage.backend import SqlBackend
from storage.migrations import migrate
from storage.postgres import PostgresBackend
from storage.sqlite import SqliteBackend, sqlite_path

log = logging.getLogger(__name__)


def backend_for(database_url: str, pool_size: int = 10) -> SqlBackend:
    scheme = urlparse(database_url).scheme
    if scheme == "sqlite":
        return SqliteBackend(sqlite_path(database_url))
    if scheme in ("postgresql", "postgres"):
        return PostgresBackend(database_url, pool_size=pool_size)
    raise StorageError(database_url_problem(database_url))


async def open_database(database_url: str, pool_size: int = 10) -> SqlBackend:
    backend = backend_for(database_url, pool_size)
    await backend.open()
    try:
        async with backend.exclusive("schema-migrations"):
            version = await migrate(backend)
    except BaseException:
        await backend.close()
        raise
    log.info("Storage ready (%s %s, schema version %d)", backend.dialect, backend.description,
             version)
    return backend
