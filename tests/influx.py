"""A real InfluxDB 1.x server (Debian's `influxd`) on 127.0.0.1, started by the tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from base64 import b64encode
from pathlib import Path

from tests.process import free_port, wait_for_http

ADMIN = "heatwatch"
ADMIN_PASSWORD = "influx-test-password"


class InfluxServer:
    def __init__(self, root: Path) -> None:
        binary = shutil.which("influxd")
        if binary is None:
            raise RuntimeError("influxd is not installed: run ./scripts/test, which installs "
                               "Debian's influxdb package")
        self.binary = binary
        self.root = root
        self.port = free_port()
        self.rpc_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> InfluxServer:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "influxdb.conf"
        config.write_text(f"""
reporting-enabled = false
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{self.root}/meta"
[data]
  dir = "{self.root}/data"
  wal-dir = "{self.root}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = true
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
""")
        log = open(self.root / "influxd.log", "ab")  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen([self.binary, "-config", str(config)], stdout=log,
                                        stderr=log)
        wait_for_http(self.url + "/ping", 204, self.process,
                      lambda: "influxd exited: " + (self.root / "influxd.log").read_text())
        # With auth on and no users yet, InfluxDB allows creating the first admin.
        self._request("/query", {"q": f"CREATE USER {ADMIN} WITH PASSWORD '{ADMIN_PASSWORD}' "
                                      "WITH ALL PRIVILEGES"}, auth=False, allow_error=True)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self.process = None

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
