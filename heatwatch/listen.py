"""Start-up checks that must pass before "Starting HeatWatch" is logged: the listening sockets
are bound here (the bot's HOST:PORT and METRICS_HOST:METRICS_PORT) and handed to aiohttp, and
the SQLite data directory is checked for writing. Each problem is one `ConfigError` naming the
setting to change; `python app.py` prints it as one line and exits 2, as for any bad setting.
"""

from __future__ import annotations

import errno
import os
import socket
import tempfile
from dataclasses import dataclass
from urllib.parse import urlparse

from common.errors import ConfigError
from common.settings import Settings
from storage.sqlite import sqlite_path


@dataclass
class Listeners:
    """Sockets bound before start: the bot's, and the metrics listener's when METRICS_PORT is
    set. Whoever serves on them owns them; `close` is for a start that stops early."""

    bot: socket.socket
    metrics: socket.socket | None = None

    def close(self) -> None:
        for sock in (self.bot, self.metrics):
            if sock is not None:
                sock.close()


def _why(error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return "is in use by another program"
    if error.errno == errno.EACCES:
        return "is not allowed for this user (ports below 1024 need privileges)"
    if error.errno == errno.EADDRNOTAVAIL:
        return "is not an address of this machine"
    return f"cannot be listened on ({error.strerror or error})"


def bind(host: str, port: int, port_name: str, host_name: str) -> socket.socket:
    """A listening TCP socket on host:port, or a ConfigError naming the settings at fault."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise ConfigError(f"{host_name}={host!r} is not a known address ({error.strerror}): "
                          f"set {host_name} to an address of this machine, e.g. 127.0.0.1 "
                          "or 0.0.0.0") from None
    # HOST is an address in practice; a name with several ("localhost") listens on its first.
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # As aiohttp does on Unix: a restart can listen again at once (TIME_WAIT), while a
        # port another process listens on still fails with EADDRINUSE.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRNOTAVAIL:
            raise ConfigError(f"{host_name}={host} {_why(error)}: set {host_name} to one "
                              "(127.0.0.1, or 0.0.0.0 for all)") from None
        raise ConfigError(f"{port_name}={port} on {host_name}={host} {_why(error)}: stop what "
                          f"listens there, or set {port_name} to another port") from None
    sock.setblocking(False)
    return sock


def listen(settings: Settings) -> Listeners:
    """Bind the bot's port, then the metrics port; nothing stays bound if either fails."""
    bot = bind(settings.host, settings.port, "PORT", "HOST")
    listeners = Listeners(bot)
    if settings.metrics_port is not None:
        try:
            listeners.metrics = bind(settings.metrics_host, settings.metrics_port,
                                     "METRICS_PORT", "METRICS_HOST")
        except ConfigError:
            listeners.close()
            raise
    return listeners


def check_data_directory(database_url: str) -> None:
    """The SQLite file's folder exists (or can be made) and takes a new file; the file itself,
    if there, is writable. PostgreSQL URLs are checked when the database is opened."""
    if urlparse(database_url).scheme != "sqlite":
        return
    path = sqlite_path(database_url)
    where = path.parent
    try:
        where.mkdir(parents=True, exist_ok=True)
        # A real file rather than os.access: access() ignores read-only mounts and ACLs.
        with tempfile.NamedTemporaryFile(dir=where, prefix=".heatwatch-write-check-"):
            pass
        if path.exists() and not os.access(path, os.W_OK):
            where = path
            raise PermissionError(errno.EACCES, "Permission denied")
    except OSError as error:
        raise ConfigError(f"DATABASE_URL={database_url}: cannot write to {where} "
                          f"({error.strerror or error}): give this user write access there, "
                          "or point DATABASE_URL at a writable place") from None
