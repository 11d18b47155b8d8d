"""Nothing the tests start may leave this machine: a guard on name resolution and connects.

`install()` wraps `socket.getaddrinfo`, `socket.socket.connect` and `connect_ex` so that any
host that is not loopback (127.0.0.0/8, ::1, localhost; or a Unix socket) is refused before a
packet leaves, and the attempt is recorded: in memory (`VIOLATIONS`, for this process) and,
when `HEATWATCH_LOOPBACK_LOG` names a file, there too (for child processes, which load this
guard through `sitecustomize`). The tests fail on any recorded attempt.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

LOG_VARIABLE = "HEATWATCH_LOOPBACK_LOG"
VIOLATIONS: list[str] = []
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def is_local(host: object) -> bool:
    if host is None or host in ("", b""):
        return True  # a passive/bind lookup
    text = host.decode() if isinstance(host, bytes) else str(host)
    text = text.strip("[]").split("%", 1)[0].lower()
    if text in _LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _is_address(host: object) -> bool:
    text = host.decode() if isinstance(host, bytes) else str(host)
    try:
        ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def _record(what: str) -> None:
    VIOLATIONS.append(what)
    path = os.environ.get(LOG_VARIABLE)
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()} {what}\n")


def install() -> None:
    if getattr(socket, "_heatwatch_guarded", False):
        return
    original_getaddrinfo = socket.getaddrinfo
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_local(host) and not _is_address(host):  # a literal is checked at connect
            _record(f"resolve {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, f"test guard: {host!r} is not loopback")
        return original_getaddrinfo(host, *args, **kwargs)

    def checked(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) \
                and not is_local(address[0]):
            _record(f"connect {address[0]!r}")
            raise ConnectionRefusedError(f"test guard: {address[0]!r} is not loopback")

    def connect(self: socket.socket, address: Any) -> None:
        checked(self, address)
        return original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        checked(self, address)
        return original_connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket._heatwatch_guarded = True  # type: ignore[attr-defined]
