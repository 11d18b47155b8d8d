"""`python -m demo.screenshot docs/alert-card.png`: the README's picture, taken from the demo.

Runs the demo (faster), opens the Playground in headless Chromium (Debian's `chromium`
package: `apt-get install chromium`), waits until the warning card that paged on the rate
lists the broken probe (the probe-fault text under it) and saves a screenshot. It drives
Chromium over the DevTools protocol with aiohttp, so it needs no Node packages of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import logging
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import aiohttp

from demo.processes import free_port, stop_process

log = logging.getLogger("demo.screenshot")
ROOT = Path(__file__).resolve().parent.parent
WANTED = "Probe faults (not paged)"  # on the card; the rate warning came before
TITLE = "Warning: server-room-temperature"  # the title of that card
SITE_WANTED = SITE_TITLE = "CRITICAL: 3 rooms in trouble at site dc1"  # `--site`: the site card


def title_to_top(title: str) -> str:
    """JavaScript that scrolls the last element starting with `title` to the top."""
    return f"""[...document.querySelectorAll('*')].filter(e => e.children.length === 0
  && e.textContent.startsWith({json.dumps(title)}))
  .slice(-1).forEach(e => e.scrollIntoView({{block: 'start'}}))"""


class DevTools:
    """Just enough of the Chrome DevTools protocol: send a command, get its result."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        await self._socket.send_json({"id": call_id, "method": method, "params": params})
        async for message in self._socket:
            answer = json.loads(message.data)
            if answer.get("id") == call_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return dict(answer.get("result", {}))
        raise RuntimeError("Chromium closed the DevTools connection")


async def capture(url: str, target: Path, width: int, height: int,
                  wanted: str = WANTED, title: str = TITLE) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is not installed: apt-get install chromium")
    port = free_port()
    # Chromium may still be writing its profile as it exits: a leftover file is no failure.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        browser = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", f"--remote-debugging-port={port}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            async with aiohttp.ClientSession() as session:
                pages: list[dict[str, Any]] = []
                for _ in range(100):
                    try:
                        async with session.get(f"http://127.0.0.1:{port}/json/list") as answer:
                            pages = [p for p in await answer.json() if p["type"] == "page"]
                            break
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.2)
                if not pages:
                    raise RuntimeError("Chromium did not open its DevTools port")
                async with session.ws_connect(pages[0]["webSocketDebuggerUrl"],
                                              max_msg_size=0) as socket:
                    tools = DevTools(socket)
                    await tools.call("Page.enable")
                    await tools.call("Emulation.setDeviceMetricsOverride", width=width,
                                     height=height, deviceScaleFactor=1, mobile=False)
                    await tools.call("Page.navigate", url=url)
                    check = f"document.body && document.body.innerText.includes({wanted!r})"
                    async with asyncio.timeout(240):
                        while not (await tools.call("Runtime.evaluate", expression=check)
                                   )["result"].get("value"):
                            await asyncio.sleep(1)
                    await asyncio.sleep(2)  # let the card finish rendering
                    # Later messages (the probe-fault text, a handoff) scroll the chat: bring
                    # the card's title to the top.
                    await tools.call("Runtime.evaluate", expression=title_to_top(title))
                    await asyncio.sleep(1)
                    shot = await tools.call("Page.captureScreenshot", format="png")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(base64.b64decode(shot["data"]))
        finally:
            stop_process(browser, grace=10)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(prog="python -m demo.screenshot")
    parser.add_argument("target", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1500)
    parser.add_argument("--site", action="store_true",
                        help="the site card of the demo's --site event (docs/site-card.png)")
    args = parser.parse_args()
    playground_port = free_port()
    with tempfile.TemporaryDirectory() as data:
        demo = subprocess.Popen(
            [sys.executable, "-m", "demo", "--port", "0", "--playground-port",
             str(playground_port), "--data-dir", data, "--speed", "2",
             *(["--site"] if args.site else [])],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert demo.stdout is not None
            for line in demo.stdout:
                if "HeatWatch demo is running" in line:
                    break
            else:
                raise SystemExit("the demo did not start")
            # Keep reading, so the demo never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in demo.stdout or ()], daemon=True).start()
            asyncio.run(capture(f"http://localhost:{playground_port}", args.target,
                                args.width, args.height, SITE_WANTED if args.site else WANTED,
                                SITE_TITLE if args.site else TITLE))
            log.info("Saved %s", args.target)
        finally:
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(60)
            except subprocess.TimeoutExpired:
                demo.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
