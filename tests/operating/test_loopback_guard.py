"""The guard that keeps the tests on this machine works, here and in child processes."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest


def take_new_lines(log: Path, seen: int) -> list[str]:
    """The attempts since `seen`, removed again so this test itself passes."""
    lines = log.read_text().splitlines()
    log.write_text("".join(line + "\n" for line in lines[:seen]))
    return lines[seen:]


def test_a_lookup_or_connect_off_loopback_is_refused_and_recorded(loopback_only: Path) -> None:
    seen = len(loopback_only.read_text().splitlines())
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("api.botframework.com", 443)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1
    socket.getaddrinfo("127.0.0.1", 80)  # loopback is fine

    attempts = take_new_lines(loopback_only, seen)
    assert [a.split(" ", 1)[1] for a in attempts] == [
        "resolve 'api.botframework.com'", "connect '192.0.2.1'"]


def test_a_child_python_process_is_guarded_too(loopback_only: Path) -> None:
    seen = len(loopback_only.read_text().splitlines())
    child = subprocess.run(
        [sys.executable, "-c", "import socket; socket.create_connection(('192.0.2.1', 80), 1)"],
        capture_output=True, text=True, timeout=30)

    assert child.returncode != 0 and "not loopback" in child.stderr
    assert [a.split(" ", 1)[1] for a in take_new_lines(loopback_only, seen)] == [
        "connect '192.0.2.1'"]
