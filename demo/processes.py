"""Small helpers for starting local servers: a free port, and waiting until one answers."""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    """Whether a server could not listen on `port` now (a closed connection's TIME_WAIT does
    not count, as servers bind with SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def wait_for_http(url: str, status: int, process: subprocess.Popen,
                  exited: Callable[[], str], timeout: float = 30.0) -> None:
    """Poll `url` until it answers `status`; raise `RuntimeError(exited())` if the process
    ends first, or a timeout error naming the URL."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(exited())
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == status:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer {status} within {timeout:g}s")


def stop_process(process: subprocess.Popen | None, grace: float) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def die_with_parent() -> None:
    """`preexec_fn` for children in a session of their own: Ctrl-C no longer reaches them, so
    ask Linux to send SIGTERM when the demo dies, even by SIGKILL (PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # 1 = PR_SET_PDEATHSIG
