"""`python -m demo`: InfluxDB, simulated temperatures, HeatWatch and the Playground, in one go.

Everything runs on 127.0.0.1 and under one folder (default `data/demo`). The bot runs as
`python app.py` in anonymous local mode, with settings given here, not from `.env`. Ctrl-C (or
SIGTERM) stops what the demo started, in order: Playground, bot, simulator, InfluxDB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
from base64 import b64encode
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from common.errors import HeatWatchError
from demo.influxd import LocalInfluxd
from demo.playground import Playground
from demo.processes import die_with_parent, free_port, port_in_use
from demo.simulator import BROKEN_SENSOR, HOT_SENSOR, ROOM, SITE, Scenario, TemperatureSimulator
from notifier.chat.commands import COMMAND_TABLE
from notifier.monitoring.trend import MIN_SPAN
from storage.database import open_database
from storage.registry import ConversationRegistry

log = logging.getLogger("demo")

ROOT = Path(__file__).resolve().parent.parent
WARN_ABOVE = 27.0
CRIT_ABOVE = 32.0
# `--dew-point`: a steady humidity, so the story's 22 -> 34 °C is a dew point of 11 -> 22 °C,
# judged on ASHRAE's 15 °C (recommended) and 17 °C (allowable, class A1), as in docs/rules.md.
HUMIDITY = 50.0
DEW_WARN_ABOVE = 15.0
DEW_CRIT_ABOVE = 17.0
# Early warnings. ASHRAE's rate-of-change limit (20 °C per hour, 5 °C in 15 min) is for dry-bulb
# temperature, so the dew point rule has no `rise_warn`: only the forecast of its limit.
EARLY_DRY_BULB = """\
# Early warnings: a rise of 5 °C in 15 min (ASHRAE's 20 °C per hour) pages before 27 °C, and
# the card says when 32 °C comes; a broken probe is told to Alex (the Playground's user).
rise_warn = "5/15m"
"""
EARLY_DEW = """\
# Early warning: the card says when the dew point reaches 17 °C (ASHRAE's rate limit is for
# dry bulb, so no rise_warn); a broken probe is told to Alex (the Playground's user).
"""
DEMO_DATABASE = "heatwatch_demo"
HISTORY = MIN_SPAN + 10.0  # seconds of flat readings the bot has before the story starts
# The Playground's signed-in user and a second person of its tenant (its default users).
PLAYGROUND_USER = "00000000-0000-0000-0000-0000000000020"
PLAYGROUND_SECOND = "00000000-0000-0000-0000-0000000000021"
# The bot's environment is built from these and the demo's own settings only: a developer's
# .env or exported MicrosoftAppId must not turn the demo into an authenticated bot.
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SSL_CERT_FILE")


class DemoError(HeatWatchError):
    """The demo cannot start; the message says why and what to do."""


@dataclass(frozen=True)
class DemoOptions:
    data_dir: Path
    port: int
    playground_port: int
    speed: float
    influx_url: str | None
    influx_database: str
    fresh: bool
    site: bool = False  # a site-wide event: three rooms of one site heat at once (site_by)
    dew_point: bool = False  # the rule watches the dew point of `value` and a steady `rh`


def parse_options(argv: list[str]) -> DemoOptions:
    parser = argparse.ArgumentParser(
        prog="scripts/demo", description="HeatWatch local demo: no Azure account needed.")
    parser.add_argument("--port", type=int, default=3978, help="the bot's port (default 3978)")
    parser.add_argument("--playground-port", type=int, default=56150,
                        help="Microsoft 365 Agents Playground's port (default 56150)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "demo",
                        help="where the demo keeps its database and logs (default data/demo)")
    parser.add_argument("--influx-url", default=None,
                        help="use this InfluxDB (1.x API: /write and /query) instead of starting "
                             "one; INFLUX_TOKEN or INFLUX_USERNAME/INFLUX_PASSWORD from the "
                             "environment are used for it")
    parser.add_argument("--influx-database", default=DEMO_DATABASE,
                        help=f"database the simulator writes to (default {DEMO_DATABASE})")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="run the temperature story this many times faster (default 1)")
    parser.add_argument("--fresh", action="store_true",
                        help="forget earlier demo runs (delete the data folder first)")
    parser.add_argument("--site", action="store_true",
                        help="a site-wide cooling loss: three rooms of one site heat together "
                             "and are told as one site card (rule key site_by)")
    parser.add_argument("--dew-point", action="store_true",
                        help=f"the rule watches the dew point (key dew_point) of the temperature "
                             f"and a steady {HUMIDITY:g} %%RH the simulator writes too")
    args = parser.parse_args(argv)
    if not 0.1 <= args.speed <= 60:
        parser.error("--speed must be between 0.1 and 60")
    for name in ("port", "playground_port"):
        if not 0 <= getattr(args, name) <= 65535:
            parser.error(f"--{name.replace('_', '-')} must be a TCP port (0 picks a free one)")
    return DemoOptions(data_dir=args.data_dir.resolve(), port=args.port or free_port(),
                       playground_port=args.playground_port or free_port(), speed=args.speed,
                       influx_url=args.influx_url, influx_database=args.influx_database,
                       fresh=args.fresh, site=args.site, dew_point=args.dew_point)


def rules_toml(speed: float, started: datetime | None = None, site: bool = False,
               dew_point: bool = False) -> str:
    hold = max(1.0, 10.0 / speed)
    watched = "dew point" if dew_point else "temperature"
    started = started or datetime.now(UTC)
    # Alex takes over at the first whole minute two minutes after the demo starts (two to three
    # minutes in), meant to come after the first alert card.
    handoff = (started + timedelta(minutes=3)).replace(second=0, microsecond=0)
    return f"""# Written by the HeatWatch demo (demo/run.py); rules.toml documents every key.
[[rule]]
name = "server-room-{watched.replace(' ', '-')}"
description = "Server room rack inlet {watched} (simulated by the demo)"
measurement = "temperature"
{'dew_point = { temperature = "value", humidity = "rh" }' if dew_point else 'field = "value"'}
{'group_by = ["site", "room", "sensor"]' + chr(10) + 'incident_by = ["site", "room"]'
 + chr(10) + 'site_by = ["site"]' if site else 'group_by = ["room", "sensor"]'}
unit = "°C"
warn_above = {DEW_WARN_ABOVE if dew_point else WARN_ABOVE}
crit_above = {DEW_CRIT_ABOVE if dew_point else CRIT_ABOVE}
hysteresis = 1.0
for = "{hold:g}s"
no_data = "2m"
repeat = "30m"
escalation = "dc-critical"
{EARLY_DEW if dew_point else EARLY_DRY_BULB}forecast_within = "10m"
probe_faults_to = ["user:{PLAYGROUND_USER}"]

# A small on-call rotation of the Playground's people, twelve hours each: Megan Bowen until two
# minutes into the demo, then Alex Wilber (the signed-in user), who gets the handoff card.
# `oncall` in chat shows it.
[[schedule]]
name = "dc"
time_zone = "UTC"
people = ["{PLAYGROUND_USER}", "{PLAYGROUND_SECOND}"]
names = {{ "{PLAYGROUND_USER}" = "Alex Wilber", "{PLAYGROUND_SECOND}" = "Megan Bowen" }}
rotation = "12h"
start = "{handoff:%Y-%m-%d}"
handoff = "{handoff:%H:%M}"

# The secondary is the other one. Unacknowledged, the critical card pages the person on call a
# minute in, then the secondary; the card says who is on call, whom each step paged, and what
# comes next. Megan has no chat in the Playground: a step that pages her reaches nobody there.
[[schedule]]
name = "dc-secondary"
time_zone = "UTC"
people = ["{PLAYGROUND_SECOND}", "{PLAYGROUND_USER}"]
names = {{ "{PLAYGROUND_USER}" = "Alex Wilber", "{PLAYGROUND_SECOND}" = "Megan Bowen" }}
rotation = "12h"
start = "{handoff:%Y-%m-%d}"
handoff = "{handoff:%H:%M}"

[[escalation]]
name = "dc-critical"
steps = [
  {{ after = "{max(1.0, 60 / speed):g}s", targets = ["oncall:dc"] }},
  {{ after = "{max(2.0, 120 / speed):g}s", targets = ["oncall:dc-secondary"] }},
]
"""


def influx_headers() -> dict[str, str]:
    """Credentials for a user-supplied InfluxDB, as the bot's settings take them."""
    token = os.environ.get("INFLUX_TOKEN", "")
    user, password = os.environ.get("INFLUX_USERNAME", ""), os.environ.get("INFLUX_PASSWORD", "")
    if token:
        return {"Authorization": f"Token {token}"}
    if user:
        return {"Authorization": "Basic " + b64encode(f"{user}:{password}".encode()).decode()}
    return {}


class Demo:
    def __init__(self, options: DemoOptions) -> None:
        self.options = options
        self.scenario = Scenario().scaled(options.speed)
        self.influxd: LocalInfluxd | None = None
        self.bot: asyncio.subprocess.Process | None = None
        self.playground: Playground | None = None
        self.session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started = datetime.now(UTC)
        self._bot_started = self._started

    @property
    def bot_url(self) -> str:
        return f"http://127.0.0.1:{self.options.port}"

    @property
    def database_url(self) -> str:
        """The bot's SQLite file, which the demo also reads to see when a chat opens."""
        return "sqlite:///" + str(self.options.data_dir / "heatwatch.db")

    async def start(self) -> None:
        options = self.options
        if options.fresh and options.data_dir.exists():
            shutil.rmtree(options.data_dir)
        options.data_dir.mkdir(parents=True, exist_ok=True)
        for port, what, flag in ((options.port, "the bot", "--port"),
                                 (options.playground_port, "the Playground",
                                  "--playground-port")):
            if port_in_use(port):
                raise DemoError(f"Port {port} for {what} is in use: stop what listens there, "
                                f"or pass {flag} with another port (0 picks a free one).")
        self.session = aiohttp.ClientSession()

        influx_url = options.influx_url
        if influx_url is None:
            self.influxd = LocalInfluxd(options.data_dir / "influxdb")
            log.info("Starting InfluxDB on %s (data in %s)", self.influxd.url, self.influxd.root)
            await asyncio.to_thread(self.influxd.start)
            influx_url = self.influxd.url
        await self._create_database(influx_url)

        rules = options.data_dir / "rules.toml"
        rules.write_text(rules_toml(options.speed, self._started, options.site,
                                    options.dew_point), encoding="utf-8")
        await self._start_bot(influx_url, rules)

        simulator = TemperatureSimulator(self.session, influx_url, options.influx_database,
                                         self.scenario, interval=max(0.2, 2.0 / options.speed),
                                         headers=influx_headers(),
                                         site=SITE if options.site else "",
                                         humidity=HUMIDITY if options.dew_point else 0.0)
        self._tasks.append(asyncio.create_task(simulator.run(), name="simulator"))

        self.playground = Playground(options.data_dir, options.playground_port,
                                     self.bot_url + "/api/messages")
        log.info("Starting Microsoft 365 Agents Playground on %s", self.playground.url)
        await asyncio.to_thread(self.playground.start)
        self._tasks.append(asyncio.create_task(self._start_heating_when_watched(simulator),
                                               name="heating"))
        self._banner()

    async def _create_database(self, influx_url: str) -> None:
        assert self.session is not None
        query = f'CREATE DATABASE "{self.options.influx_database}"'
        try:
            async with self.session.post(influx_url.rstrip("/") + "/query", params={"q": query},
                                         headers=influx_headers(),
                                         timeout=aiohttp.ClientTimeout(total=15)) as response:
                if response.status >= 300:
                    raise DemoError(f"InfluxDB at {influx_url} refused {query!r} "
                                    f"({response.status}: {(await response.text())[:200]}). "
                                    "Check INFLUX_TOKEN or INFLUX_USERNAME/INFLUX_PASSWORD.")
        except (aiohttp.ClientError, TimeoutError) as error:
            raise DemoError(f"Cannot reach InfluxDB at {influx_url}: {error}") from error

    async def _start_bot(self, influx_url: str, rules: Path) -> None:
        assert self.session is not None
        options = self.options
        env = {key: os.environ[key] for key in _PASSED_THROUGH if key in os.environ}
        env.update({
            "MicrosoftAppId": "", "MicrosoftAppPassword": "", "HOST": "127.0.0.1",
            "PORT": str(options.port), "LOG_LEVEL": "INFO",
            "DATABASE_URL": self.database_url,
            "MONITORING_ENABLED": "true", "RULES_FILE": str(rules),
            "POLL_INTERVAL_SECONDS": str(max(1, round(5 / options.speed))),
            "INFLUX_URL": influx_url, "INFLUX_QUERY_LANGUAGE": "influxql",
            "INFLUX_DATABASE": options.influx_database,
        })
        for key in ("INFLUX_TOKEN", "INFLUX_USERNAME", "INFLUX_PASSWORD"):
            if options.influx_url and os.environ.get(key):
                env[key] = os.environ[key]
        log.info("Starting HeatWatch on %s (anonymous local mode)", self.bot_url)
        # cwd is the demo folder, so the repository's .env is not read.
        self.bot = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "app.py"), cwd=options.data_dir, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True, preexec_fn=die_with_parent)
        self._tasks.append(asyncio.create_task(self._relay_bot_log(), name="bot-log"))
        for _ in range(300):
            if self.bot.returncode is not None:
                raise DemoError("HeatWatch exited while starting; its log is above.")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self.session.get(self.bot_url + "/healthz",
                                            timeout=aiohttp.ClientTimeout(total=1)) as answer:
                    if answer.status == 200:
                        self._bot_started = datetime.now(UTC)
                        return
            await asyncio.sleep(0.1)
        raise DemoError(f"HeatWatch did not answer on {self.bot_url}/healthz within 30 s.")

    async def _relay_bot_log(self) -> None:
        assert self.bot is not None and self.bot.stdout is not None
        async for line in self.bot.stdout:
            log.info("bot | %s", line.decode(errors="replace").rstrip())

    async def _start_heating_when_watched(self, simulator: TemperatureSimulator) -> None:
        """The story starts once someone can see it: when a chat opens during this run."""
        db = await open_database(self.database_url)
        try:
            registry = ConversationRegistry(db)
            # Opening the Playground page installs the app in its chats again, which touches
            # them: a chat known from an earlier run does not count until someone looks.
            while not any(c.updated_at >= self._started
                          for c in await registry.list_alert_targets()):
                await asyncio.sleep(0.5)
        finally:
            await db.close()
        # A trend needs MIN_SPAN seconds of readings: a bot that just started has none, and
        # would see the rise only after it (in production the history is there already).
        wait = HISTORY - (datetime.now(UTC) - self._bot_started).total_seconds()
        if wait > 0:
            log.info("The bot is in a chat; the story starts in %.0f s, once HeatWatch has the "
                     "%.0f s of readings its trend needs.", wait, MIN_SPAN)
            await asyncio.sleep(wait)
        warn = self.scenario.seconds_to(WARN_ABOVE)
        crit = self.scenario.seconds_to(CRIT_ABOVE)
        log.info("The bot is in a chat. %s in %s starts heating up now, 3 °C a minute: a "
                 "warning on the rate within about a minute, over %g °C in about %.0f s, over "
                 "%g °C in about %.0f s (critical); %s's probe breaks a minute in.",
                 HOT_SENSOR, ROOM, WARN_ABOVE, warn, CRIT_ABOVE, crit, BROKEN_SENSOR)
        simulator.begin()

    def _banner(self) -> None:
        assert self.playground is not None
        hot_until = self.scenario.calm + self.scenario.rise + self.scenario.hot
        log.info(
            "\n"
            "  HeatWatch demo is running. Open %s in a browser.\n"
            "  That is Microsoft 365 Agents Playground, a local Teams chat with the bot.\n"
            "  Once the chat is open, %s and two neighbours rise 3 °C a minute: the warning\n"
            "  card comes on the rate within about a minute; press Snooze 1 h or Acknowledge.\n"
            "  About %.0f s after the chat opens the room starts to cool and the alert resolves\n"
            "  soon after; the story repeats every %.0f s.\n"
            "  Chat commands: %s (help explains them all).\n"
            "  Ctrl-C stops everything.\n",
            self.playground.url, HOT_SENSOR, hot_until, self.scenario.cycle,
            ", ".join(name for name, line in COMMAND_TABLE.items() if line))

    async def watch(self) -> int:
        """Return when a child process ends on its own (which is an error)."""
        while True:
            if self.bot is not None and self.bot.returncode is not None:
                log.error("HeatWatch exited (code %s); stopping the demo", self.bot.returncode)
                return 1
            for name, server in (("InfluxDB", self.influxd), ("The Playground", self.playground)):
                process = server.process if server is not None else None
                if process is not None and process.poll() is not None:
                    log.error("%s exited (code %s); see %s", name, process.returncode,
                              server.log_path if server is not None else "")
                    return 1
            for task in self._tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    log.error("Demo task %s failed: %s", task.get_name(), task.exception())
                    return 1
            await asyncio.sleep(0.5)

    async def stop(self) -> None:
        if self.playground is not None:
            await asyncio.to_thread(self.playground.stop)
        if self.bot is not None and self.bot.returncode is None:
            self.bot.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(20):
                    await self.bot.wait()
            except TimeoutError:
                self.bot.kill()
                await self.bot.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.influxd is not None:
            await asyncio.to_thread(self.influxd.stop)
        if self.session is not None:
            await self.session.close()


async def run_demo(options: DemoOptions) -> int:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    demo = Demo(options)

    async def start_and_watch() -> int:
        await demo.start()
        return await demo.watch()

    main = asyncio.create_task(start_and_watch())
    stopper = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait({main, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if main.done():
            return main.result()
        log.info("Stopping the demo...")
        main.cancel()
        await asyncio.gather(main, return_exceptions=True)
        return 0
    except HeatWatchError as error:
        log.error("%s", error)
        return 2
    except RuntimeError as error:  # a server that did not start: its log tail is in the text
        log.error("%s", error)
        return 1
    finally:
        stopper.cancel()
        await demo.stop()
        log.info("Demo stopped.")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("storage").setLevel(logging.WARNING)  # the bot logs its own storage
    options = parse_options(sys.argv[1:] if argv is None else argv)
    return asyncio.run(run_demo(options))
