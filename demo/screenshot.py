"""`python -m demo.screenshot docs/alert-card.png`: the README's picture, taken from the demo.

Runs the demo (faster), opens the Playground in headless Chromium (Debian's `chromium`
package: `apt-get install chromium`), waits until the warning card that paged on the rate
lists the broken probe (the probe-fault text under it) and saves a screenshot (`--site`: the
site card; `--dew-point`: the dew point rule's card; `--say report`: then types **report** into
the chat and takes the exposure card that answers, docs/report-card.png). It drives
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
# `--say report`: typed into the chat once the alert card above is shown (so the report has
# minutes outside the envelope to count); the picture is of the answer, the exposure card.
REPORT_WANTED = REPORT_TITLE = "Exposure report, last"
# `--dew-point`: the demo's dew point rule; its card names both inputs under "Computed from".
DEW_WANTED, DEW_TITLE = "Computed from", "Warning: server-room-dew-point"


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


async def wait_for_text(tools: DevTools, wanted: str) -> None:
    check = f"document.body && document.body.innerText.includes({json.dumps(wanted)})"
    async with asyncio.timeout(240):
        while not (await tools.call("Runtime.evaluate", expression=check))["result"].get("value"):
            await asyncio.sleep(1)


async def type_message(tools: DevTools, text: str) -> None:
    """Type `text` into the Playground's message box and send it (the log panel under the
    chat is editable too, but is no `role=textbox`)."""
    focus = """(() => { const box = document.querySelector('[role=textbox][contenteditable=true]');
  if (box) { box.focus(); } return !!box; })()"""
    if not (await tools.call("Runtime.evaluate", expression=focus))["result"].get("value"):
        raise RuntimeError("the Playground shows no message box")
    await tools.call("Input.insertText", text=text)
    for kind in ("keyDown", "keyUp"):
        await tools.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                         windowsVirtualKeyCode=13, **({"text": "\r"} if kind == "keyDown" else {}))


async def capture(url: str, target: Path, width: int, height: int,
                  wanted: str = WANTED, title: str = TITLE,
                  say: str = "", reply: str = "") -> None:
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
                    await wait_for_text(tools, wanted)
                    if say:
                        await type_message(tools, say)
                        await wait_for_text(tools, reply)
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
    parser.add_argument("--dew-point", action="store_true",
                        help="the alert card of the demo's --dew-point rule "
                             "(docs/dew-point-card.png)")
    parser.add_argument("--say", default="",
                        help="type this into the chat once the alert card is shown; only "
                             "'report' is known: the exposure card (docs/report-card.png)")
    args = parser.parse_args()
    if args.say and not args.say.startswith("report"):
        parser.error("--say knows the answer of 'report' only")
    playground_port = free_port()
    log.info("Starting the demo (InfluxDB, the bot and the Playground: about a minute)...")
    with tempfile.TemporaryDirectory() as data:
        demo = subprocess.Popen(
            [sys.executable, "-m", "demo", "--port", "0", "--playground-port",
             str(playground_port), "--data-dir", data, "--speed", "2",
             *(["--site"] if args.site else []), *(["--dew-point"] if args.dew_point else [])],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert demo.stdout is not None
            for line in demo.stdout:
                if "HeatWatch demo is running" in line:
                    break
            else:
                raise SystemExit("the demo did not start")
            log.info("The demo is running; opening the chat in headless Chromium and waiting "
                     "for the card (the story takes about three minutes)...")
            # Keep reading, so the demo never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in demo.stdout or ()], daemon=True).start()
            wanted, title = (SITE_WANTED, SITE_TITLE) if args.site else (
                DEW_WANTED, DEW_TITLE) if args.dew_point else (WANTED, TITLE)
            asyncio.run(capture(f"http://localhost:{playground_port}", args.target,
                                args.width, args.height, wanted,
                                REPORT_TITLE if args.say else title,
                                args.say, REPORT_WANTED if args.say else ""))
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
