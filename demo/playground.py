"""Microsoft 365 Agents Playground (npm `@microsoft/m365agentsplayground`) as a child process.

It runs with `--disable-telemetry`, never opens a browser itself (its `open` call crashes the
process on machines without `xdg-open`), and keeps its log in the demo's folder.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from common.errors import HeatWatchError
from demo.processes import die_with_parent, stop_process, wait_for_http

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"


class PlaygroundMissing(HeatWatchError):
    """Node.js or the Playground package is not installed."""


class Playground:
    def __init__(self, root: Path, port: int, bot_endpoint: str) -> None:
        if not CLI.exists():
            raise PlaygroundMissing(
                f"{CLI} is missing: scripts/demo installs it (npm install in {ROOT}).")
        self.root = root
        self.port = port
        self.bot_endpoint = bot_endpoint
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "playground.log"

    def command(self) -> list[str]:
        return ["node", str(CLI), "start", "--app-endpoint", self.bot_endpoint,
                "--channel-id", "msteams", "--port", str(self.port), "--disable-telemetry"]

    def start(self, timeout: float = 60.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "TEAMSAPPTESTER_BROWSER": "none",
               "M365_AGENTS_PLAYGROUND_LOGFILE": str(self.root / "playground-devtools.log")}
        try:
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(self.command(), cwd=self.root, env=env,
                                                stdout=log, stderr=log, start_new_session=True,
                                                preexec_fn=die_with_parent)
        except FileNotFoundError as error:
            raise PlaygroundMissing("node is not installed: the Playground needs Node.js 20 "
                                    "or later") from error
        wait_for_http(f"http://127.0.0.1:{self.port}/_internal/v1/config", 200, self.process,
                      lambda: "the Playground exited: " + self.log_path.read_text()[-2000:],
                      timeout)

    def stop(self) -> None:
        stop_process(self.process, grace=15)
        self.process = None
