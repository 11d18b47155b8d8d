"""Start-up problems found by `python app.py` itself: one line naming the setting, exit 2,
before "Starting HeatWatch" is logged (a real process on a port this test holds)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.processes import free_port
from tests.support.process import ROOT


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port another program (this test) listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "MONITORING_ENABLED": "false",
            "DATABASE_URL": f"sqlite:///{tmp_path}/data/hw.db",
            "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, str(ROOT / "app.py")], cwd=tmp_path,
                          capture_output=True, text=True, env={**base, **env}, timeout=60)


def assert_one_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    for text in expected:
        assert text in result.stderr, output
    assert "Starting HeatWatch" not in output
    assert "Traceback" not in output
    assert len(result.stderr.strip().splitlines()) == 1, output


def test_a_busy_port_is_one_line_naming_port(tmp_path: Path, held_port: int) -> None:
    result = start(tmp_path, PORT=str(held_port))
    assert_one_line(result, f"PORT={held_port} on HOST=127.0.0.1 is in use",
                    "set PORT to another port")
    assert not (tmp_path / "data" / "hw.db").exists()  # nothing started


def test_a_busy_metrics_port_is_one_line_naming_metrics_port(tmp_path: Path,
                                                             held_port: int) -> None:
    result = start(tmp_path, PORT=str(free_port()), METRICS_PORT=str(held_port))
    assert_one_line(result, f"METRICS_PORT={held_port} on METRICS_HOST=127.0.0.1 is in use")


def test_a_host_that_is_not_this_machine_names_host(tmp_path: Path) -> None:
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine; binding sends nothing.
    result = start(tmp_path, PORT=str(free_port()), HOST="192.0.2.1", MicrosoftAppId="x",
                   MicrosoftAppPassword="y", MicrosoftAppTenantId="z")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "HOST=192.0.2.1 is not an address of this machine" in result.stderr, output
    assert "Starting HeatWatch" not in output and "Traceback" not in output


@pytest.mark.skipif(os.geteuid() == 0, reason="root may listen on any port")
def test_a_forbidden_port_names_port(tmp_path: Path) -> None:
    assert_one_line(start(tmp_path, PORT="80"), "PORT=80 on HOST=127.0.0.1 is not allowed")


def test_a_data_directory_that_cannot_be_made_names_database_url(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the data folder should be")
    url = f"sqlite:///{tmp_path}/data/hw.db"
    result = start(tmp_path, PORT=str(free_port()), DATABASE_URL=url)
    assert_one_line(result, f"DATABASE_URL={url}: cannot write to {tmp_path}/data")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_data_directory_names_database_url(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o500)
    try:
        result = start(tmp_path, PORT=str(free_port()))
    finally:
        data.chmod(0o700)
    assert_one_line(result, "DATABASE_URL=", f"cannot write to {data} (Permission denied)")
