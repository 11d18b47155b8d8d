"""A real Alertmanager (Debian's `prometheus-alertmanager` package) on 127.0.0.1, started by the
tests, with one webhook receiver pointing at HeatWatch.

Everything it writes (config, silences and notification log, its log) lives in one temporary
folder; it listens on a free loopback port with clustering off (`--cluster.listen-address=`),
groups alerts by `alertname` and `room` with a 1 s group_wait and group_interval, sends resolved
notifications, and dies with the test process. Its external URL is its own address unless
given, so the `externalURL` of its notifications leads back to it (silences from cards go there).

    server = AlertmanagerServer("http://127.0.0.1:3978/api/alerts/alertmanager", "s3cret-token")
    server.start()                                     # also waits for /-/ready
    server.post_alerts([{"labels": {"alertname": "Hot"}}])
    server.silences()                                  # GET /api/v2/silences
    server.stop()                                      # and removes the folder it created
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from typing import Any, Self

from demo.processes import die_with_parent, free_port, stop_process, wait_for_http

log = logging.getLogger(__name__)


class AlertmanagerMissing(RuntimeError):
    """Neither `prometheus-alertmanager` (Debian's name) nor `alertmanager` is on PATH."""


class AlertmanagerServer:
    def __init__(self, webhook_url: str, token: str, group_by: tuple[str, ...] = (
            "alertname", "room"), external_url: str | None = None) -> None:
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if binary is None:
            raise AlertmanagerMissing(
                "Alertmanager is not installed: run ./scripts/test (or "
                "scripts/install-alertmanager), which installs Debian's prometheus-alertmanager")
        self.binary = binary
        self.webhook_url = webhook_url
        self.token = token
        self.group_by = group_by
        self.port = free_port()
        self.external_url = external_url or self.url
        self.root = Path(tempfile.mkdtemp(prefix="heatwatch-am-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "alertmanager.log"

    def config(self) -> dict[str, Any]:
        """The configuration as data, written as JSON (which is valid YAML)."""
        return {
            "route": {"receiver": "heatwatch", "group_by": list(self.group_by),
                      "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [{"name": "heatwatch", "webhook_configs": [{
                "url": self.webhook_url, "send_resolved": True,
                "http_config": {"authorization": {"type": "Bearer",
                                                  "credentials": self.token}}}]}],
        }

    def start(self, timeout: float = 30.0) -> Self:
        config_path = self.root / "alertmanager.yml"
        # The config holds the bearer token: readable by this user only.
        descriptor = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as config:
            json.dump(self.config(), config, indent=2)
        with open(self.log_path, "ab") as output:
            self.process = subprocess.Popen(
                [self.binary, f"--config.file={config_path}",
                 f"--storage.path={self.root / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}",
                 f"--web.external-url={self.external_url}", "--cluster.listen-address=",
                 "--log.level=warn"],
                stdout=output, stderr=output, stdin=subprocess.DEVNULL, cwd=self.root,
                start_new_session=True, preexec_fn=die_with_parent)
        log.info("Alertmanager starting on %s (pid %d)", self.url, self.process.pid)
        wait_for_http(self.url + "/-/ready", 200, self.process,
                      lambda: "alertmanager exited: " + self.log_tail(), timeout)
        return self

    def stop(self) -> None:
        stop_process(self.process, grace=10)
        self.process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
        return json.loads(text) if text.strip() else None

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """POST /api/v2/alerts (as Prometheus does)."""
        self._call("POST", "/api/v2/alerts", alerts)

    def silences(self) -> list[dict[str, Any]]:
        """GET /api/v2/silences: every silence, with its status (active, expired, pending)."""
        return list(self._call("GET", "/api/v2/silences"))
