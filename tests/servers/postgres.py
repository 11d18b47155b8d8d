"""A real PostgreSQL server (Debian's `postgresql` package) on 127.0.0.1, started by the tests.

Password authentication over TCP (scram-sha-256), like a real deployment. PostgreSQL refuses to
run as root, so as root the cluster belongs to the `postgres` user the package creates.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from demo.processes import die_with_parent, free_port, stop_process

USER = "heatwatch"
PASSWORD = "pg-test-password"


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(Path(p).parent.parent.name))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run ./scripts/test, which installs "
                           "Debian's postgresql package")
    return Path(found[-1]).parent


class PostgresServer:
    def __init__(self) -> None:
        self.bindir = _bindir()
        self.port = free_port()
        # Not under pytest's tmp_path: its parents are private to root.
        self.root = Path(tempfile.mkdtemp(prefix="heatwatch-pg-"))
        self.data = self.root / "data"
        self.process: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)
        self._user: str | None = "postgres" if os.geteuid() == 0 else None

    def _run_as(self) -> dict[str, object]:
        return {"user": self._user} if self._user else {}

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def init(self) -> PostgresServer:
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        password_file = self.root / "password"
        password_file.write_text(PASSWORD)
        if self._user:
            shutil.chown(password_file, self._user)
        subprocess.run(
            [str(self.bindir / "initdb"), "-D", str(self.data), "-U", USER,
             f"--pwfile={password_file}", "--auth-host=scram-sha-256", "--auth-local=trust",
             "-E", "UTF8", "--locale=C.UTF-8"],
            check=True, capture_output=True, **self._run_as())  # type: ignore[call-overload]
        return self

    def start(self) -> PostgresServer:
        log = open(self.root / "postgres.log", "ab")  # noqa: SIM115 - lives with the server
        self.process = subprocess.Popen(
            [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-k", str(self.root), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
             "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=300"],
            stdout=log, stderr=log, start_new_session=True, preexec_fn=die_with_parent,
            **self._run_as())  # type: ignore[call-overload]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("postgres exited: " +
                                   (self.root / "postgres.log").read_text()[-2000:])
            ready = subprocess.run([str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p",
                                    str(self.port)], capture_output=True)
            if ready.returncode == 0:
                return self
            time.sleep(0.1)
        raise RuntimeError("postgres did not accept connections within 30 s")

    def stop(self) -> None:
        """Fast shutdown (SIGINT): what a server restart looks like to clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                stop_process(self.process, grace=5)
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        name = f"heatwatch_{os.getpid()}_{next(self._names)}"

        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL with psql (no event loop needed, so sync fixtures can use it)."""
        result = subprocess.run(
            [str(self.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER,
             "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
            capture_output=True, text=True, env={**os.environ, "PGPASSWORD": PASSWORD},
            timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {result.stderr}")
        return result.stdout
