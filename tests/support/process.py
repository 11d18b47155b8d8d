"""Run `python app.py` as a real process for tests that need a restart or a signal."""

from __future__ import annotations

import codecs
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from demo.processes import free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[2]


class AppProcess:
    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.port = int(env.get("PORT") or free_port())
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("Microsoft")},
                    **env, "PORT": str(self.port)}
        self.cwd = cwd
        self.process: subprocess.Popen[str] | None = None
        self.output = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> AppProcess:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py")], cwd=self.cwd, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        assert self.process is not None
        wait_for_http(self.url + "/readyz", 200, self.process,
                      lambda: "app exited early:\n" + self.finish(), timeout)

    def polls(self) -> int:
        """The polls this app has made (any outcome), from its /metrics: a replica in
        anonymous mode serves it on its own port."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as response:
            text = response.read().decode()
        return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.startswith("heatwatch_polls_total{")))

    def wait_for_output(self, text: str, timeout: float = 30) -> None:
        """Read the app's output as it comes until it holds `text`."""
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while text not in self.output:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} not in the output within {timeout:g}s:\n{self.output}"
            # Straight from the pipe: a buffered readline() would keep further lines in
            # Python's buffer, where select() cannot see them (a line that came in the same
            # chunk as the one before would wait for the app's next output).
            ready, _, _ = select.select([self.process.stdout], [], [], left)
            if ready:
                chunk = os.read(self.process.stdout.fileno(), 65536)
                assert chunk, f"the app exited before saying {text!r}:\n{self.output}"
                self.output += self._decoder.decode(chunk)

    def signal(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        code = self.process.wait(30)
        self.finish()
        return code

    def finish(self) -> str:
        if (self.process is not None and self.process.stdout is not None
                and not self.process.stdout.closed):
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(10)
            self.output += self.process.stdout.read()
            self.process.stdout.close()
        return self.output
