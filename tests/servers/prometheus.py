"""A real Prometheus server (Debian's `prometheus` package) on 127.0.0.1, started by the tests.

Everything it writes (config, TSDB, log) lives in one temporary folder; it scrapes the given
targets every second, listens on a free loopback port, and dies with the test process. Prometheus
hands new targets to its scrapers at most every 5 s, so the first scrape comes about 5-6 s after
start(); later ones every `scrape_interval`. Call start() from a thread that outlives the server
(the main thread, a session fixture): Linux delivers the die-with-parent signal when the thread
that started a child ends.

    server = PrometheusServer([ScrapeJob("heatwatch", ["127.0.0.1:3978"], bearer_token="s3cret")])
    server.start()                       # also waits for /-/ready
    server.wait_for('up{job="heatwatch"}', lambda samples: bool(samples) and samples[0].value == 1)
    server.stop()                        # and removes the folder it created
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from demo.processes import die_with_parent, free_port, stop_process, wait_for_http

log = logging.getLogger(__name__)


class PrometheusMissing(RuntimeError):
    """`prometheus` is not on PATH."""


class PrometheusQueryError(RuntimeError):
    """The HTTP API answered a query with an error (`errorType` and `error`)."""

    def __init__(self, expr: str, error_type: str, error: str) -> None:
        super().__init__(f"{error_type}: {error} (query {expr!r})")
        self.expr = expr
        self.error_type = error_type
        self.error = error


@dataclass(frozen=True)
class ScrapeJob:
    """One `scrape_configs` entry: `targets` are `host:port`, scraped over plain HTTP."""

    name: str
    targets: Sequence[str]
    metrics_path: str = "/metrics"
    bearer_token: str | None = None


@dataclass(frozen=True)
class Sample:
    """One series of a query result. `value` is the newest value (NaN for an empty matrix);
    `values` holds every (timestamp, value) pair: one for an instant vector, all for a range."""

    labels: dict[str, str]
    value: float
    values: list[tuple[float, float]] = field(default_factory=list)


def _number(text: str) -> float:
    # The API encodes values as strings: "1", "NaN", "+Inf", "-Inf".
    return float(text)


def _samples(data: dict[str, Any]) -> list[Sample]:
    kind = data["resultType"]
    result = data["result"]
    if kind == "vector":
        return [Sample(item["metric"], _number(item["value"][1]),
                       [(float(item["value"][0]), _number(item["value"][1]))])
                for item in result]
    if kind == "matrix":
        samples = []
        for item in result:
            values = [(float(t), _number(v)) for t, v in item["values"]]
            samples.append(Sample(item["metric"], values[-1][1] if values else math.nan, values))
        return samples
    if kind == "scalar":
        return [Sample({}, _number(result[1]), [(float(result[0]), _number(result[1]))])]
    raise PrometheusQueryError("", "unexpected_result", f"result type {kind!r} is not numeric")


class PrometheusServer:
    def __init__(self, jobs: Sequence[ScrapeJob], root: Path | None = None,
                 scrape_interval: str = "1s", rule_files: Sequence[Path] = (),
                 evaluation_interval: str = "1s") -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise PrometheusMissing(
                "prometheus is not installed: run ./scripts/test (or scripts/install-prometheus), "
                "which installs Debian's prometheus package")
        names = [job.name for job in jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"scrape job names must be unique: {names}")
        self.binary = binary
        self.jobs = list(jobs)
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.rule_files = [Path(p).resolve() for p in rule_files]
        self.port = free_port()
        # Not under pytest's tmp_path by default, like tests/servers/postgres.py; removed by stop().
        self._own_root = root is None
        self.root = root if root is not None else Path(tempfile.mkdtemp(prefix="heatwatch-prom-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.root / "prometheus.yml"

    @property
    def log_path(self) -> Path:
        return self.root / "prometheus.log"

    def config(self) -> dict[str, Any]:
        """The configuration as data. It is written as JSON, which is valid YAML."""
        scrape_configs: list[dict[str, Any]] = []
        for job in self.jobs:
            entry: dict[str, Any] = {
                "job_name": job.name,
                "metrics_path": job.metrics_path,
                "static_configs": [{"targets": list(job.targets)}],
            }
            if job.bearer_token is not None:
                entry["authorization"] = {"type": "Bearer", "credentials": job.bearer_token}
            scrape_configs.append(entry)
        config: dict[str, Any] = {
            "global": {"scrape_interval": self.scrape_interval,
                       "scrape_timeout": self.scrape_interval,
                       "evaluation_interval": self.evaluation_interval},
            "scrape_configs": scrape_configs,
        }
        if self.rule_files:
            config["rule_files"] = [str(path) for path in self.rule_files]
        return config

    def start(self, timeout: float = 30.0) -> Self:
        self.root.mkdir(parents=True, exist_ok=True)
        # The config may hold bearer tokens: readable by this user only.
        descriptor = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as config:
            json.dump(self.config(), config, indent=2)
        with open(self.log_path, "ab") as output:
            self.process = subprocess.Popen(
                [self.binary, f"--config.file={self.config_path}",
                 f"--storage.tsdb.path={self.root / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=output, stderr=output, stdin=subprocess.DEVNULL, cwd=self.root,
                start_new_session=True, preexec_fn=die_with_parent)
        log.info("Prometheus starting on %s (pid %d)", self.url, self.process.pid)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until `/-/ready` answers 200 (TSDB open, config loaded)."""
        assert self.process is not None, "start() first"
        wait_for_http(self.url + "/-/ready", 200, self.process,
                      lambda: "prometheus exited: " + self.log_tail(), timeout)

    def stop(self) -> None:
        stop_process(self.process, grace=10)
        self.process = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def api(self, path: str, params: dict[str, str] | None = None,
            timeout: float = 10.0) -> Any:
        """GET an `/api/v1/...` path; returns `data`, raises PrometheusQueryError on errors."""
        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        expr = (params or {}).get("query", "")
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            body = error.read()
            try:
                answer = json.loads(body)
            except ValueError:
                raise PrometheusQueryError(expr, f"http_{error.code}",
                                           body.decode(errors="replace")) from error
        if answer.get("status") != "success":
            raise PrometheusQueryError(expr, str(answer.get("errorType")),
                                       str(answer.get("error")))
        return answer["data"]

    def query(self, expr: str, at: float | None = None) -> list[Sample]:
        """An instant query (`/api/v1/query`), evaluated now or at the Unix time `at`."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return _samples(self.api("/api/v1/query", params))

    def wait_for(self, expr: str, predicate: Callable[[list[Sample]], bool],
                 timeout: float = 10.0, interval: float = 0.2) -> list[Sample]:
        """Query `expr` until `predicate(result)` holds; returns that result. Query errors are
        raised at once (a bad expression will not get better)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if predicate(result):
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{expr!r} did not satisfy the condition within {timeout:g}s; "
                                   f"last result {result}; prometheus log: {self.log_tail(500)}")
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError("prometheus exited: " + self.log_tail())
            time.sleep(interval)

    def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets with their `health` and `lastError`."""
        return list(self.api("/api/v1/targets")["activeTargets"])

    def alerts(self) -> list[dict[str, Any]]:
        """Pending and firing alerts of the loaded `rule_files`."""
        return list(self.api("/api/v1/alerts")["alerts"])
