"""Open the database named by DATABASE_URL and bring its schema up to date."""

from __future__ import annotations

import logging
from urllib.parse import urlparse

from heatwatch.errors import StorageError
from storage.backend import SqlBackend
from storage.migrations import migrate
from storage.sqlite import SqliteBackend, sqlite_path

log = logging.getLogger(__name__)


def backend_for(database_url: str) -> SqlBackend:
    scheme = urlparse(database_url).scheme
    if scheme == "sqlite":
        return SqliteBackend(sqlite_path(database_url))
    raise StorageError(
        f"DATABASE_URL scheme {scheme!r} is not supported: use sqlite:///path/to/file.db"
    )


async def open_database(database_url: str) -> SqlBackend:
    backend = backend_for(database_url)
    await backend.open()
    try:
        version = await migrate(backend)
    except BaseException:
        await backend.close()
        raise
    log.info("Storage ready (%s, schema version %d)", backend.dialect, version)
    return backend
