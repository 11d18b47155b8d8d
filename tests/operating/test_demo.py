"""The local demo, run headless: `python -m demo` starts a real influxd, the simulator, the bot and
Microsoft 365 Agents Playground; this test is the person at the browser. It uses the HTTP and
WebSocket endpoints the Playground's own web page uses: install the app into the personal chat,
stream what the bot posts, send a chat message, press a card button."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from demo.processes import free_port
from demo.run import DEW_CRIT_ABOVE, DEW_WARN_ABOVE, rules_toml
from notifier.monitoring.rules import DewPointFields, load_rules
from tests.support.process import ROOT
from tests.support.teams import card_text

USER = "user-id-0"  # the Playground's signed-in user ("Alex Wilber")


@dataclass
class DemoRun:
    process: subprocess.Popen[str]
    playground: str
    bot_port: int
    playground_port: int
    lines: list[str] = field(default_factory=list)

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float) -> re.Match[str]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            if self.process.poll() is not None:
                raise AssertionError("the demo exited early:\n" + self.output())
            time.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r} within {timeout}s:\n" + self.output())


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoRun]:
    bot_port, playground_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "demo", "--port", str(bot_port), "--playground-port",
         str(playground_port), "--data-dir", str(tmp_path / "demo"), "--speed", "6"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run = DemoRun(process, f"http://127.0.0.1:{playground_port}", bot_port, playground_port)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            run.lines.append(line.rstrip())

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        run.wait_for_line(r"HeatWatch demo is running", timeout=120)
        yield run
    finally:
        if process.poll() is None:  # a failed test: stop the demo the way a person would
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        reader.join(10)


class PlaygroundChat:
    """What the Playground's web page sees of the personal chat."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base
        self.conversation = ""
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def open(self) -> AsyncIterator[None]:
        async with self.session.get(self.base + "/_internal/v1/config") as answer:
            self.conversation = (await answer.json())["config"]["personalChat"]["id"]
        async with self.session.ws_connect(
                self.base + "/_ws_conversation/v1/conversations/stream") as socket:
            async def read() -> None:
                async for message in socket:
                    await self.events.put(json.loads(message.data))
            reader = asyncio.create_task(read())
            try:
                yield
            finally:
                reader.cancel()

    async def install(self) -> None:
        async with self.session.post(
                f"{self.base}/_debug/conversation/{self.conversation}/installation",
                json={}) as answer:
            assert answer.status == 200

    async def say(self, text: str) -> None:
        async with self.session.post(
                f"{self.base}/_conversation/v1/conversations/{self.conversation}/messages",
                json={"from": {"id": USER}, "text": text, "textFormat": "plain"}) as answer:
            assert answer.status == 200, await answer.text()

    async def press(self, message_id: str, action: dict[str, Any]) -> dict[str, Any]:
        async with self.session.post(self.base + "/_conversation/v1/invoke", json={
            "name": "adaptiveCard/action", "conversation": {"id": self.conversation},
            "from": {"id": USER}, "replyToId": message_id,
            "value": {"action": action, "trigger": "manual"},
        }) as answer:
            assert answer.status == 200, await answer.text()
            return dict(await answer.json())

    async def next_message(self, wanted: str, timeout: float) -> dict[str, Any]:
        """The next created or updated message whose text or card text contains `wanted`."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.events.get()
                message = event.get("message") or {}
                if wanted in text_of(message):
                    return {"action": event.get("action"), **message}

    async def messages_with(self, *wanted: str, timeout: float) -> list[dict[str, Any]]:
        """The next message containing each of `wanted`, in whichever order they come."""
        found: dict[str, dict[str, Any]] = {}
        async with asyncio.timeout(timeout):
            while len(found) < len(wanted):
                event = await self.events.get()
                message = event.get("message") or {}
                for text in wanted:
                    if text not in found and text in text_of(message):
                        found[text] = {"action": event.get("action"), **message}
        return [found[text] for text in wanted]


def text_of(message: dict[str, Any]) -> str:
    parts = [message.get("text") or ""]
    parts += [card_text(attachment.get("content") or {"body": []})
              for attachment in message.get("attachments") or []]
    return "\n".join(parts)


def card_body(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Every element of a message's card, containers opened."""
    found: list[dict[str, Any]] = []
    stack = list(message["attachments"][0]["content"].get("body", []))
    while stack:
        element = stack.pop(0)
        found.append(element)
        stack += element.get("items", []) + [c for column in element.get("columns", [])
                                             for c in column.get("items", [])]
    return found


def hottest(message: dict[str, Any]) -> tuple[str, float]:
    """The sensor the card names first and the value it shows for it: the first of "Hottest",
    or the one sensor's Sensor and Value."""
    facts = [fact for element in card_body(message) if element.get("type") == "FactSet"
             for fact in element["facts"]]
    for fact in facts:  # "25.27 °C at {{TIME(…)}} · warning"
        if re.match(r"[\d.-]+ °C( at \{\{TIME\([^)]*\)\}\})? · ", fact["value"]):
            return fact["title"].split(" ")[0], float(fact["value"].split(" °C")[0])
    named = {fact["title"]: fact["value"] for fact in facts}
    return named["Sensor"], float(named["Value"].split(" °C")[0])


def hottest_value(message: dict[str, Any]) -> float:
    return hottest(message)[1]


def chart_ends_at_the_value(message: dict[str, Any]) -> bool:
    """The chart's line of that sensor ends at the value the card shows for it."""
    sensor, value = hottest(message)
    [chart] = [e for e in card_body(message) if e.get("type") == "Chart.Line"]
    [line] = [line for line in chart["data"] if line["legend"] == sensor]
    return bool(abs(line["values"][-1]["y"] - value) < 0.01)


def card_actions(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    card = message["attachments"][0]["content"]
    return {action["title"]: action for action in card.get("actions", [])}


async def test_demo_alert_arrives_in_the_playground_is_snoozed_acknowledged_and_resolves(
    demo: DemoRun,
) -> None:
    async with aiohttp.ClientSession() as session:
        chat = PlaygroundChat(session, demo.playground)
        opened = chat.open()
        await anext(opened)
        try:
            await chat.install()
            welcome = await chat.next_message("I'm **HeatWatch**", timeout=30)
            assert welcome["action"] == "createMessage"

            await chat.say("help")
            await chat.next_message("status", timeout=30)

            # The story starts once the bot is in a chat: the room rises 3 °C a minute, and
            # the rate pages before any threshold, saying when critical comes.
            alert = await chat.next_message("Warning: server-room-temperature", timeout=240)
            assert alert["action"] == "createMessage"
            text = text_of(alert)
            assert "Room=server-room-1" in text
            assert re.search(r"rising [\d.]+ °C/min, limit 5 °C per 15 min, critical in "
                             r"\d+(-\d+)? min", text), text
            assert hottest_value(alert) < 27.0, text  # before the threshold
            assert chart_ends_at_the_value(alert)

            # Rack 1's probe breaks: a text to the rule's probe_faults_to (Alex, here), and a
            # line on the open room's card; never a page.
            notice, faulty = await chat.messages_with(
                "**Probe fault** of **server-room-temperature**",
                "Probe faults (not paged): rack-1-inlet: reads 85", timeout=120)
            assert notice["action"] == "createMessage"
            assert "- sensor rack-1-inlet: reads 85 °C, outside -20..80 °C, since " in \
                notice["text"]
            assert (faulty["action"], faulty["messageId"]) == ("updateMessage",
                                                               alert["messageId"])

            # The same card is updated in place as the room passes the critical threshold.
            critical = await chat.next_message("CRITICAL: server-room-temperature", timeout=240)
            assert (critical["action"], critical["messageId"]) == ("updateMessage",
                                                                   alert["messageId"])
            assert chart_ends_at_the_value(critical)
            # Snooze: the card says who and until when, and offers only its undo...
            answer = await chat.press(alert["messageId"], card_actions(critical)["Snooze 1 h"])
            snoozed = {"attachments": [{"content": answer["value"]}]}
            assert "Snoozed here by Alex Wilber until" in text_of(snoozed)
            assert set(card_actions(snoozed)) >= {"Acknowledge", "Undo snooze"}
            assert "Snooze 1 h" not in card_actions(snoozed)
            # ...which brings the snooze buttons back.
            answer = await chat.press(alert["messageId"], card_actions(snoozed)["Undo snooze"])
            unsnoozed = {"attachments": [{"content": answer["value"]}]}
            assert "Snoozed here" not in text_of(unsnoozed)
            assert "Snooze 1 h" in card_actions(unsnoozed)
            answer = await chat.press(alert["messageId"], card_actions(unsnoozed)["Acknowledge"])
            assert answer["type"] == "application/vnd.microsoft.card.adaptive"
            assert "Acknowledged by Alex Wilber" in text_of(
                {"attachments": [{"content": answer["value"]}]})
            alert_id = card_actions(critical)["Acknowledge"]["data"]["alertId"]

            # ... and resolves when the room cools, still saying who acknowledged.
            resolved = await chat.next_message("Resolved: server-room-temperature", timeout=90)
            assert resolved["action"] == "updateMessage"
            assert resolved["messageId"] == alert["messageId"]
            assert "Acknowledged by Alex Wilber" in text_of(resolved)
            note = await chat.next_message("Resolved: **server-room-temperature**", timeout=30)
            assert note["action"] == "createMessage"

            # History: the incident, who acknowledged it, and its timeline.
            await chat.say("history")
            listed = await chat.next_message("Last incidents", timeout=30)
            assert f"`{alert_id[:8]}`" in listed["text"]
            assert "acknowledged by Alex Wilber after" in listed["text"]
            await chat.say(f"history {alert_id[:8]}")
            timeline = (await chat.next_message("Timeline of", timeout=30))["text"]
            for step in ("**fired**", "**became critical**", "**snoozed** by Alex Wilber",
                         "**unsnoozed** by Alex Wilber", "**acknowledged** by Alex Wilber",
                         "**resolved**"):
                assert step in timeline, timeline

            # The demo's rotation: Megan, then Alex (the Playground's user), whichever side
            # of the handoff this is.
            await chat.say("oncall")
            on_call = (await chat.next_message("On call now", timeout=30))["text"]
            assert re.search(r"\*\*dc\*\*: (Megan Bowen|Alex Wilber) until .*, then "
                             r"(Alex Wilber|Megan Bowen)", on_call), on_call
        finally:
            await opened.aclose()

    # Ctrl-C stops everything the demo started.
    influx_port = int(demo.wait_for_line(r"Starting InfluxDB on http://127.0.0.1:(\d+)",
                                         timeout=1).group(1))
    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(60) == 0, demo.output()
    assert "Demo stopped." in demo.output()
    for port in (demo.bot_port, demo.playground_port, influx_port):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_demo_refuses_a_busy_port_and_says_which_flag_fixes_it(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "demo", "--port", str(port), "--data-dir",
             str(tmp_path / "demo"), "--influx-url", "http://127.0.0.1:9"],
            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"Port {port} for the bot is in use" in result.stdout
    assert "--port" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_demo_says_when_the_influxdb_it_was_pointed_at_is_unreachable(tmp_path: Path) -> None:
    closed = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--port", "0", "--playground-port", "0", "--data-dir",
         str(tmp_path / "demo"), "--influx-url", f"http://127.0.0.1:{closed}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"Cannot reach InfluxDB at http://127.0.0.1:{closed}" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_a_killed_demo_takes_its_servers_with_it(tmp_path: Path) -> None:
    """Even SIGKILL, which the demo cannot catch, stops InfluxDB, the bot and the Playground."""
    bot_port, playground_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "demo", "--port", str(bot_port), "--playground-port",
         str(playground_port), "--data-dir", str(tmp_path / "demo")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "HeatWatch demo is running" in line:
            break
    influx_port = int(re.search(r"Starting InfluxDB on http://127.0.0.1:(\d+)",
                                "".join(lines)).group(1))  # type: ignore[union-attr]
    process.kill()
    process.wait(10)
    deadline = time.monotonic() + 30
    for port in (bot_port, playground_port, influx_port):
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except ConnectionRefusedError:
                break
            except OSError:  # reset or timed out: the server is shutting down; look again
                pass
            assert time.monotonic() < deadline, f"port {port} still served after SIGKILL"
            time.sleep(0.1)


def test_the_dew_point_demo_rule_loads_and_watches_both_fields(tmp_path: Path) -> None:
    """`--dew-point` (docs/dew-point-card.png): the demo's rule is a dew point rule over the
    simulator's temperature and humidity, on the thresholds docs/rules.md gives."""
    path = tmp_path / "rules.toml"
    path.write_text(rules_toml(2, dew_point=True), encoding="utf-8")
    [rule] = load_rules(path)
    assert rule.dew_point == DewPointFields(temperature="value", humidity="rh")
    assert (rule.warn_above, rule.crit_above) == (DEW_WARN_ABOVE, DEW_CRIT_ABOVE)
    path.write_text(rules_toml(2), encoding="utf-8")
    assert load_rules(path)[0].dew_point is None
