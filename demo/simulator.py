"""Simulated server-room temperatures, written to InfluxDB over its 1.x `/write` API.

A failing cooling unit, as an operator can watch it from start to end: the inlet of rack 3
starts rising 3 °C a minute, racks 4 and 5 follow seconds later (a rise the room shares: the
rate pages before any threshold, with when critical comes), over 27 °C after 100 s and 32 °C
after 200 s; they stay hot for a while (time to acknowledge), cool down (the incident
resolves), rest, and again. Rack 2 stays normal; rack 1's probe breaks a minute into the rise
and reads 85 °C until the room has cooled (a probe fault: on the card, told to the rule's
`probe_faults_to`, never paged).

The rise is sped up at most 1.5 times (`--speed` shortens everything else as asked): the
trend that pages on the rate judges real minutes (it sees a rise about 45 s in, whatever its
pace), and a cooling failure rises a few degrees a minute (operators report 18 °C in 15 min
after an air handler failed); at 4.5 °C/min the page still comes well before 27 °C.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass

import aiohttp

log = logging.getLogger(__name__)

ROOM = "server-room-1"
HOT_SENSOR = "rack-3-inlet"  # the first to heat up, and the hottest
# The racks that follow it: (sensor, seconds after rack 3 at speed 1, how much cooler at peak).
FOLLOWERS = (("rack-4-inlet", 10.0, 1.5), ("rack-5-inlet", 20.0, 3.0))
STEADY_SENSORS = ("rack-1-inlet", "rack-2-inlet")
# `--site`: the site of every room, and the rooms that heat with server-room-1 (a chiller plant
# serving all three): (room, seconds later at speed 1, how much cooler at peak).
SITE = "dc1"
SITE_ROOMS = (("server-room-2", 0.0, 0.8), ("server-room-3", 0.0, 1.6))
BROKEN_SENSOR = "rack-1-inlet"  # its probe fails during the story
BROKEN_VALUE = 85.0  # °C: outside the default plausible range (-20..80 °C)
BROKEN_AFTER = 60.0  # seconds into the rise, whatever the speed: after the rate's page
RISE_SPEEDUP = 1.5  # `--speed` makes the rise at most this much faster


@dataclass(frozen=True)
class Scenario:
    """One cycle of the hot sensor, in seconds at speed 1 (the demo's `--speed` divides them)."""

    normal: float = 22.0
    peak: float = 34.0
    calm: float = 10.0
    rise: float = 240.0  # 3 °C/min from 22 to 34 °C
    hot: float = 120.0
    cool: float = 30.0
    rest: float = 90.0

    speed: float = 1.0

    def scaled(self, speed: float) -> Scenario:
        """Faster (or slower); the rise at most RISE_SPEEDUP times faster (4.5 °C/min)."""
        return Scenario(self.normal, self.peak, self.calm / speed,
                        self.rise / min(speed, RISE_SPEEDUP), self.hot / speed,
                        self.cool / speed, self.rest / speed, speed)

    def broken(self, elapsed: float) -> bool:
        """Whether rack 1's probe is broken `elapsed` seconds after the start: from a minute
        into the rise until the room has cooled."""
        t = elapsed % self.cycle - self.calm
        return BROKEN_AFTER <= t < self.rise + self.hot + self.cool

    @property
    def cycle(self) -> float:
        return self.calm + self.rise + self.hot + self.cool + self.rest

    def temperature(self, elapsed: float) -> float:
        """The hot sensor's value `elapsed` seconds after the start."""
        t = elapsed % self.cycle
        span = self.peak - self.normal
        if t < self.calm:
            return self.normal
        t -= self.calm
        if t < self.rise:
            return self.normal + span * t / self.rise
        t -= self.rise
        if t < self.hot:
            return self.peak
        t -= self.hot
        if t < self.cool:
            return self.peak - span * t / self.cool
        return self.normal

    def seconds_to(self, value: float) -> float:
        """When the first rise reaches `value`."""
        return self.calm + self.rise * (value - self.normal) / (self.peak - self.normal)


def lines(scenario: Scenario, elapsed: float, now_ms: int, measurement: str,
          site: str = "") -> list[str]:
    """Line protocol for every sensor at one instant; a little wobble keeps charts honest.
    With `site`, every room is tagged with it and the rooms of `SITE_ROOMS` heat too."""
    if site:
        written = [line.replace(f",room={ROOM},", f",site={site},room={ROOM},")
                   for line in lines(scenario, elapsed, now_ms, measurement)]
        for room, delay, cooler in SITE_ROOMS:
            for line in lines(scenario, max(0.0, elapsed - delay / scenario.speed), now_ms,
                              measurement):
                head, value, _ = line.rsplit(" ", 2)
                number = float(value.removeprefix("value="))
                hot = number - cooler if number > scenario.normal + 1 else number
                written.append(head.replace(f",room={ROOM},", f",site={site},room={room},")
                               + f" value={hot:.2f} {now_ms}")
        return written
    wobble = 0.15 * math.sin(elapsed / 7.0)
    values = {HOT_SENSOR: scenario.temperature(elapsed) + wobble}
    span = scenario.peak - scenario.normal
    for sensor, delay, cooler in FOLLOWERS:
        # Joins later and cools with rack 3 (same cooling unit): shifted start, same end; it
        # rises at once, a little slower, to `cooler` under rack 3's peak.
        lag = delay / scenario.speed
        rising = scenario.temperature(max(0.0, elapsed - lag)) if (
            elapsed % scenario.cycle) < scenario.calm + scenario.rise + lag else \
            scenario.temperature(elapsed)
        values[sensor] = scenario.normal + (rising - scenario.normal) * (span - cooler) / span \
            + wobble
    for index, sensor in enumerate(STEADY_SENSORS):
        values[sensor] = scenario.normal + 0.5 * index + 0.15 * math.sin(elapsed / 5.0 + index)
    if scenario.broken(elapsed):
        values[BROKEN_SENSOR] = BROKEN_VALUE
    return [f"{measurement},room={ROOM},sensor={sensor} value={value:.2f} {now_ms}"
            for sensor, value in values.items()]


class TemperatureSimulator:
    """Writes every sensor's reading every `interval` seconds until cancelled.

    A failed write is logged once per outage and retried on the next tick; the simulator never
    stops on its own.
    """

    def __init__(self, session: aiohttp.ClientSession, influx_url: str, database: str,
                 scenario: Scenario, interval: float = 1.0, measurement: str = "temperature",
                 headers: dict[str, str] | None = None, site: str = "",
                 humidity: float = 0.0) -> None:
        self._site = site
        self._humidity = humidity  # %RH: `--dew-point` writes it as field `rh` of every point
        self._session = session
        self._url = influx_url.rstrip("/") + "/write"
        self._database = database
        self._scenario = scenario
        self._interval = interval
        self._measurement = measurement
        self._headers = headers or {}
        self._started: float | None = None

    def begin(self) -> None:
        """Start the cycle now; until then every sensor reads normal."""
        self._started = time.monotonic()

    async def run(self) -> None:
        failing = False
        while True:
            elapsed = 0.0 if self._started is None else time.monotonic() - self._started
            written = lines(self._scenario, elapsed, int(time.time() * 1000),
                            self._measurement, self._site)
            if self._humidity:
                written = [line.replace(" value=", f" rh={self._humidity:g},value=", 1)
                           for line in written]
            body = "\n".join(written)
            try:
                async with self._session.post(
                        self._url, params={"db": self._database, "precision": "ms"},
                        data=body.encode(), headers=self._headers,
                        timeout=aiohttp.ClientTimeout(total=10)) as response:
                    if response.status >= 300:
                        raise aiohttp.ClientResponseError(
                            response.request_info, (), status=response.status,
                            message=(await response.text())[:200])
                if failing:
                    log.info("Simulator: writing to InfluxDB again")
                    failing = False
            except (aiohttp.ClientError, TimeoutError) as error:
                if not failing:
                    log.warning("Simulator: cannot write to InfluxDB at %s (%s); retrying",
                                self._url, error)
                    failing = True
            await asyncio.sleep(self._interval)
