"""A real InfluxDB 1.x server (Debian's `influxd`) on 127.0.0.1, started by the tests."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from base64 import b64encode
from pathlib import Path

from demo.influxd import LocalInfluxd

ADMIN = "heatwatch"
ADMIN_PASSWORD = "influx-test-password"


class InfluxServer(LocalInfluxd):
    """The demo's local influxd with authentication on and an admin user."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, auth=True)

    def start(self, timeout: float = 30.0) -> InfluxServer:
        super().start(timeout)
        # With auth on and no users yet, InfluxDB allows creating the first admin.
        self._request("/query", {"q": f"CREATE USER {ADMIN} WITH PASSWORD '{ADMIN_PASSWORD}' "
                                      "WITH ALL PRIVILEGES"}, auth=False, allow_error=True)
        return self

    def _request(self, path: str, params: dict[str, str], body: bytes | None = None,
                 auth: bool = True, allow_error: bool = False) -> str:
        url = self.url + path + "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, data=body if body is not None else b"",
                                         method="POST")
        if auth:
            token = b64encode(f"{ADMIN}:{ADMIN_PASSWORD}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.read().decode()
        except urllib.error.HTTPError as error:
            if allow_error:
                return error.read().decode()
            raise

    def create_database(self, name: str) -> None:
        answer = json.loads(self._request("/query", {"q": f'CREATE DATABASE "{name}"'}))
        assert "error" not in answer["results"][0], answer

    def write(self, database: str, lines: list[str]) -> None:
        """Line protocol with millisecond timestamps."""
        self._request("/write", {"db": database, "precision": "ms"},
                      body="\n".join(lines).encode())


def point(room: str, sensor: str, value: float, at_ms: int, measurement: str = "temperature",
          **tags: str) -> str:
    extra = "".join(f",{k}={v}" for k, v in sorted(tags.items()))
    return f"{measurement},room={room},sensor={sensor}{extra} value={value} {at_ms}"
