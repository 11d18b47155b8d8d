"""A private InfluxDB 1.x server (Debian's `influxd`) on 127.0.0.1: for the demo and the tests.

It keeps everything (config, data, log) under one folder and listens on loopback only.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from common.errors import HeatWatchError
from demo.processes import die_with_parent, free_port, stop_process, wait_for_http


class InfluxdMissing(HeatWatchError):
    """`influxd` is not on PATH."""


class LocalInfluxd:
    def __init__(self, root: Path, port: int = 0, auth: bool = False) -> None:
        binary = shutil.which("influxd")
        if binary is None:
            raise InfluxdMissing(
                "influxd is not installed. scripts/demo and scripts/test install Debian's "
                "influxdb package; or point the demo at a running InfluxDB with --influx-url.")
        self.binary = binary
        self.root = root
        self.port = port or free_port()
        self.auth = auth
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "influxd.log"

    def start(self, timeout: float = 30.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "influxdb.conf"
        config.write_text(f"""
reporting-enabled = false
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{self.root}/meta"
[data]
  dir = "{self.root}/data"
  wal-dir = "{self.root}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = {"true" if self.auth else "false"}
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
""")
        with open(self.log_path, "ab") as log:
            # Its own session: a Ctrl-C in the terminal reaches the demo, which stops it in order.
            self.process = subprocess.Popen([self.binary, "-config", str(config)], stdout=log,
                                            stderr=log, start_new_session=True,
                                            preexec_fn=die_with_parent)
        wait_for_http(self.url + "/ping", 204, self.process,
                      lambda: "influxd exited: " + self.log_path.read_text()[-2000:], timeout)

    def stop(self) -> None:
        stop_process(self.process, grace=30)
        self.process = None
