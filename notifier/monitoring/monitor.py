"""The polling loop: query each rule, run the state machine, publish events, persist state.

Polls never overlap: one loop, and a slow poll delays the next. A source outage is logged once,
retried with exponential backoff and jitter, and after `down_after` seconds announced with one
`source-down` event (then `source-up` on recovery). No-data is not judged while the source is
failing. Nothing here stops the loop except cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from common.clock import utcnow
from common.metrics import UNCOUNTED, Metrics
from common.retry import Backoff, FailureLog
from notifier.alerts.events import AlertEvent, EventKind, make_alert_id, series_key
from notifier.alerts.sink import AlertSink
from notifier.monitoring.engine import Reading, SeriesState, expired, step
from notifier.monitoring.probes import ProbeFault, ProbeJudge, ProbeNotices
from notifier.monitoring.removal import removed_rule_events
from notifier.monitoring.rules import Rule
from notifier.monitoring.sources import SourceError, TemperatureSource
from notifier.monitoring.trend import FAST_RISE, RecentReadings, cause_hint, forecast
from storage.alert_state import AlertStateStore, SourceOutage
from storage.backend import Leadership, Statement

log = logging.getLogger(__name__)

# Events that tell a firing series' value: they carry its trend and forecast.
_TRENDED = frozenset({EventKind.FIRED, EventKind.ESCALATED, EventKind.DEESCALATED,
                      EventKind.REMINDER, EventKind.READING})


@dataclass
class SourceHealth:
    failing_since: datetime | None = None
    last_error: str = ""
    consecutive_failures: int = 0
    down_alert_id: str | None = None
    last_success: datetime | None = None

    @property
    def healthy(self) -> bool:
        return self.failing_since is None


class Monitor:
    def __init__(
        self,
        rules: list[Rule],
        source: TemperatureSource,
        states: AlertStateStore,
        sink: AlertSink,
        *,
        interval: float,
        down_after: float,
        clock: Callable[[], datetime] = utcnow,
        metrics: Metrics | None = None,
    ) -> None:
        self.rules = rules
        self._metrics = metrics or UNCOUNTED
        self._next_rules: list[Rule] | None = None  # set_rules: used from the next poll
        self._removed: list[AlertEvent] = []  # resolved events for series of removed rules
        self._forget_removed = False
        self._outage_logged = False
        self.evaluated = 0  # series stepped, for the metrics
        self.source = source
        self.interval = interval
        self.down_after = down_after
        self.health = SourceHealth()
        self._store = states
        self._sink = sink
        self._clock = clock
        self._states: dict[tuple[str, str], SeriesState] = {}
        self._recent = RecentReadings()  # for trends and forecasts
        self._probes = ProbeJudge()  # probe faults: judged before the state machine
        self._told = ProbeNotices()  # what `probe_faults_to` is told of them
        # Probe-fault notes of this poll: published after the poll's other events, so an
        # incident the same poll opens is there to take them.
        self._notes: list[AlertEvent] = []
        self._dropped: list[Statement] = []  # forgotten series: deleted with the save
        self._states_stale = False  # a poll failed to store what it decided: reload first
        self._loaded = False
        self._recorded_outage: SourceOutage | None = None
        self._rule_errors: dict[str, str] = {}
        self.leading = False  # whether this replica polls (see run)

    def set_rules(self, rules: list[Rule]) -> None:
        """New rules (a reload), in force from the next poll. Series of rules no longer there
        have their open alerts resolved ("rule removed") at that poll."""
        self._next_rules = list(rules)

    def _apply_rules(self, now: datetime) -> None:
        if self._next_rules is None:
            return
        self.rules, self._next_rules = self._next_rules, None
        self._drop_removed(now)

    def _drop_removed(self, now: datetime) -> None:
        names = {rule.name for rule in self.rules}
        gone = [state for (rule, _), state in self._states.items() if rule not in names]
        if not gone:
            return
        self._removed.extend(removed_rule_events(gone, now))
        self._states = {k: v for k, v in self._states.items() if k[0] in names}
        self._recent.keep_rules(names)
        self._probes.keep_rules(names)
        self._told.keep_rules(names)
        self._forget_removed = True

    async def load(self) -> None:
        """Restore persisted state; series of rules that left the rules file have their open
        alerts resolved at the next poll, then their state is dropped."""
        await self._load_states()
        # An outage another poller was in the middle of goes on here: same start, same alert.
        outage = await self._store.load_outage(self.source.description)
        self._recorded_outage = outage
        if outage is not None:
            self._outage_logged = False  # this process has not said so yet
            self.health = SourceHealth(failing_since=outage.failing_since,
                                       last_error=outage.last_error, consecutive_failures=1,
                                       down_alert_id=outage.down_alert_id)
        elif not self.health.healthy:
            self.health = SourceHealth()
        self._loaded = True

    async def _load_states(self) -> None:
        """The series' states as stored (at start, on taking over, after a failed poll)."""
        self._states = {
            (rule, key): SeriesState.loads(rule, key, text)
            for (rule, key), text in (await self._store.load()).items()
        }
        self._removed = []  # recomputed from the stored state (a reload must not repeat them)
        self._dropped = []  # the stored states decide again what to drop
        self._states_stale = False
        self._drop_removed(self._clock())

    def state(self, rule: str, tags: dict[str, str]) -> SeriesState | None:
        return self._states.get((rule, series_key(tags)))

    def states(self) -> list[SeriesState]:
        return list(self._states.values())

    def probe_faults(self) -> list[ProbeFault]:
        """The current probe faults (implausible, held jumps, stuck), oldest first."""
        return sorted(self._probes.faults.values(), key=lambda f: (f.since, f.rule, f.key))

    async def poll_once(self, now: datetime | None = None) -> list[AlertEvent]:
        """One pass over every rule. Returns the events it published."""
        started = asyncio.get_running_loop().time()
        evaluated = self.evaluated
        ok = False
        try:
            events = await self._poll(now)
            ok = self.health.healthy and not self._rule_errors
            return events
        finally:
            self._metrics.polled(ok, asyncio.get_running_loop().time() - started,
                                 self.evaluated - evaluated)

    async def _poll(self, now: datetime | None) -> list[AlertEvent]:
        if self._next_rules is not None and self._loaded:
            self._apply_rules(now or self._clock())
        elif self._next_rules is not None:
            self.rules, self._next_rules = self._next_rules, None
        if not self._loaded:
            await self.load()
        elif self._states_stale:
            await self._load_states()
        told = copy.deepcopy(self._told)  # what probe notices were told, before this poll
        now = now or self._clock()
        events: list[AlertEvent] = list(self._removed)
        changed: dict[tuple[str, str], SeriesState] = {}
        source_error: SourceError | None = None
        for rule in self.rules:
            try:
                readings = await self.source.latest(rule)
            except SourceError as error:
                if error.per_rule:
                    self._note_rule_error(rule, str(error))
                    continue
                source_error = error
                break
            self._clear_rule_error(rule)
            self._evaluate(rule, readings, now, events, changed)
        self._rule_errors = {name: message for name, message in self._rule_errors.items()
                             if any(rule.name == name for rule in self.rules)}
        events.extend(self._notes)
        self._notes = []
        events.extend(self._track_health(source_error, now))
        kinds = [fault.kind.value for fault in self._probes.faults.values()]
        self._metrics.set_probe_faults({kind: kinds.count(kind) for kind in set(kinds)})
        try:
            await self._commit(events, changed)
        except BaseException:
            # What this poll decided is not all stored (the database failed, or publishing
            # did): the next poll starts again from the stored series' states and what probe
            # notices were told before, so its events come again (each is idempotent
            # downstream) instead of being lost with the memory's state. The source's health
            # stays as it is here (an outage's alert id must not be forgotten).
            self._states_stale, self._told = True, told
            raise
        return events

    async def _commit(self, events: list[AlertEvent],
                      changed: dict[tuple[str, str], SeriesState]) -> None:
        """Publish the poll's events, then store the states they came from."""
        if events:
            await self._sink.publish(events)
        if self._removed:
            log.info("Resolved %d alert(s) of rules no longer configured", len(self._removed))
            self._removed = []
        if self._forget_removed:
            dropped = await self._store.forget_rules_except(rule.name for rule in self.rules)
            if dropped:
                log.info("Dropped the state of %d series of rules no longer configured",
                         dropped)
            self._forget_removed = False
        outage = self._outage()
        extra, self._dropped = self._dropped, []
        if outage != self._recorded_outage:
            extra.append(self._store.outage_statement(self.source.description, outage))
        if changed or extra:
            await self._store.save(
                ((rule, key, state.dumps()) for (rule, key), state in changed.items()), extra)
            self._recorded_outage = outage

    def _outage(self) -> SourceOutage | None:
        health = self.health
        if health.failing_since is None:
            return None
        return SourceOutage(health.failing_since, health.down_alert_id, health.last_error)

    def _evaluate(self, rule: Rule, readings: list[Reading], now: datetime,
                  events: list[AlertEvent], changed: dict[tuple[str, str], SeriesState]) -> None:
        seen: set[str] = set()
        first = len(events)
        faulty = self._probes.judge(rule, readings)
        lone = self._lone_risers(rule, readings, faulty)
        for reading in readings:
            seen.add(reading.key)
            self._step(rule, reading.key, reading, now, events, changed,
                       fault=reading.key in faulty, shared=reading.key not in lone)
            state = self._states.get((rule.name, reading.key))
            if state is None:
                continue  # dropped this poll (forgotten long ago)
            fault = self._probes.faults.get((rule.name, reading.key))
            words = f"{fault.kind.value}: {fault.detail}" if fault else ""
            if state.fault != words:  # stored, so `status` on any replica shows it
                state.fault = words
                changed[(rule.name, reading.key)] = state
                # A note for the room's card, if an incident is open there (else nobody).
                group = rule.incident_group(state.tags)
                self._notes.append(AlertEvent(
                    kind=EventKind.PROBE_FAULT, rule=rule.name, at=now, series=dict(state.tags),
                    alert_id=make_alert_id(rule.name, reading.key, now), group=group,
                    unit=rule.unit, detail=fault.detail if fault else ""))
        for (rule_name, key) in list(self._states):
            if rule_name == rule.name and key not in seen:
                self._step(rule, key, None, now, events, changed)
        self._notes += self._told.notices(rule, self._probes.faults, seen, now)
        self._add_hints(rule, readings, events, first)

    def _lone_risers(self, rule: Rule, readings: list[Reading], faulty: set[str]) -> set[str]:
        """The series rising fast (a good trend, or the newest minute, at least `rise_warn`;
        else ASHRAE's 20 °C/h) in a group (room) where fewer than half of the series that
        reported this poll rise so: a rise of their own, which must go on before it pages
        (`engine.RATE_HOLD`). The newest minute counts so that a cooling failure's first
        sensor to show a good trend does not wait a poll for its neighbours' trends. A series
        with no neighbour reporting is judged at once (no evidence against it). Readings are
        added to the recent ones here, before the state machine judges them."""
        if not (rule.rise_warn or rule.rise_crit or rule.forecast_within):
            return set()
        fast = rule.rise_warn or rule.rise_crit
        limit = fast.per_minute if fast is not None else FAST_RISE
        sign = -1.0 if rule.below_only else 1.0
        groups: dict[str, list[tuple[str, bool]]] = {}
        for reading in readings:
            if reading.key in faulty:
                continue
            self._recent.add(rule.name, reading.key, reading.time, reading.value)
            trend = self._recent.trend(rule.name, reading.key)
            rising = trend is not None and (trend.good and sign * trend.slope >= limit or (
                trend.recent is not None and sign * trend.recent >= limit))
            group = series_key(rule.incident_group(reading.tags))
            groups.setdefault(group, []).append((reading.key, rising))
        lone: set[str] = set()
        for members in groups.values():
            risers = [key for key, rising in members if rising]
            if len(members) >= 2 and len(risers) * 2 < len(members):
                lone.update(risers)
        return lone

    def _add_hints(self, rule: Rule, readings: list[Reading], events: list[AlertEvent],
                   first: int) -> None:
        """The likely cause on the events of this poll, from the shape of their group's
        curves: many sensors rising fast is a cooling failure, one is a local hot spot, a
        slow rise is cooling that cannot keep up. Trends are computed only for the groups
        with a trended event this poll."""
        groups = {e.group_key for e in events[first:] if e.kind in _TRENDED}
        if not groups:
            return
        fast_rate = rule.rise_warn.per_minute if rule.rise_warn else FAST_RISE
        members: dict[str, list[float | None]] = {}
        for reading in readings:
            group = series_key(rule.incident_group(reading.tags))
            if group in groups:
                trend = self._recent.trend(rule.name, reading.key)
                sign = -1.0 if rule.below_only else 1.0
                members.setdefault(group, []).append(
                    sign * trend.told.slope if trend is not None and trend.good else None)
        hints = {group: cause_hint(slopes, fast_rate) for group, slopes in members.items()}
        for index in range(first, len(events)):
            event = events[index]
            if event.kind in _TRENDED and hints.get(event.group_key):
                events[index] = replace(event, hint=hints[event.group_key])

    def _step(self, rule: Rule, key: str, reading: Reading | None, now: datetime,
              events: list[AlertEvent], changed: dict[tuple[str, str], SeriesState],
              fault: bool = False, shared: bool = True) -> None:
        state = self._states.get((rule.name, key))
        if state is None:
            state = self._states[(rule.name, key)] = SeriesState(rule=rule.name, key=key)
        if reading is not None and not fault:
            self._recent.add(rule.name, key, reading.time, reading.value)  # once: same point
        trend = self._recent.trend(rule.name, key) if reading is not None and not fault and (
            rule.rise_warn or rule.rise_crit or rule.forecast_within) else None
        new_events, dirty = step(rule, state, reading, now, trend, fault, shared)
        self.evaluated += 1
        if dirty:
            changed[(rule.name, key)] = state
        if any(event.kind is EventKind.FORGOTTEN for event in new_events):
            self._recent.forget(rule.name, key)  # what memory holds of it goes now
            self._probes.forget(rule.name, key)
            self._told.forget(rule.name, key)
        elif expired(rule, state, now):
            self._drop(rule.name, key, changed)
        for event in new_events:
            if event.kind in _TRENDED:
                trend = trend or self._recent.trend(rule.name, key)
                good = trend if trend is not None and trend.good else None
                event = replace(event, trend=trend.arrow if trend else None,
                                forecast=event.forecast or forecast(
                                    rule, event.severity, event.value, event.threshold, good))
            events.append(event)

    def _drop(self, rule: str, key: str, changed: dict[tuple[str, str], SeriesState]) -> None:
        """Drop a forgotten series whose last point no query returns any more: its state,
        here and stored (with this poll's save), and what memory took of that point since."""
        self._states.pop((rule, key), None)
        self._recent.forget(rule, key)
        self._probes.forget(rule, key)
        self._told.forget(rule, key)
        changed.pop((rule, key), None)
        self._dropped.append(AlertStateStore.forget_statement(rule, key))
        log.info("Dropped the state of series %s of rule %r (no data for its forget_after)",
                 key, rule)

    def _note_rule_error(self, rule: Rule, message: str) -> None:
        if self._rule_errors.get(rule.name) != message:
            log.error("Query of rule %r failed, will retry every poll: %s", rule.name, message)
        self._rule_errors[rule.name] = message

    def _clear_rule_error(self, rule: Rule) -> None:
        if self._rule_errors.pop(rule.name, None) is not None:
            log.info("Query of rule %r works again", rule.name)

    def _track_health(self, error: SourceError | None, now: datetime) -> list[AlertEvent]:
        health = self.health
        if error is None:
            events: list[AlertEvent] = []
            if not health.healthy:
                outage = (now - health.failing_since).total_seconds()  # type: ignore[operator]
                log.info("%s is back after %.0fs", self.source.description, outage)
                if health.down_alert_id is not None:
                    events.append(AlertEvent(kind=EventKind.SOURCE_UP, rule="", at=now,
                                             alert_id=health.down_alert_id,
                                             since=health.failing_since,
                                             detail=self.source.description))
            self.health = SourceHealth(last_success=now)
            return events
        if health.healthy:
            log.error("%s; retrying with backoff", error)
            health.failing_since = now
            self._outage_logged = True
        elif not self._outage_logged:  # an outage found at start (stored by the last run)
            log.error("%s; retrying with backoff (failing since %s, before this start)", error,
                      f"{health.failing_since:%Y-%m-%d %H:%M:%S} UTC")
            self._outage_logged = True
        elif str(error) != health.last_error:
            log.warning("%s (still retrying)", error)
        else:
            log.debug("%s (still retrying)", error)
        health.last_error = str(error)
        health.consecutive_failures += 1
        outage = (now - health.failing_since).total_seconds()  # type: ignore[operator]
        if health.down_alert_id is None and outage >= self.down_after:
            health.down_alert_id = make_alert_id("source", self.source.description,
                                                 health.failing_since)  # type: ignore[arg-type]
            return [AlertEvent(kind=EventKind.SOURCE_DOWN, rule="", at=now,
                               alert_id=health.down_alert_id, since=health.failing_since,
                               detail=f"{self.source.description}: {error}")]
        return []

    def next_delay(self) -> float:
        """The poll interval; while the source fails, doubling up to max(interval, 60 s),
        with +-10% jitter so replicas and retries do not align."""
        failures = self.health.consecutive_failures
        if failures == 0:
            return self.interval
        return Backoff(self.interval, max(self.interval, 60.0), (0.9, 1.1)).delay(failures - 1)

    async def run(self, leadership: Leadership | None = None) -> None:
        """Poll forever; cancellation is the only way out.

        With several replicas on one database, only the holder of `leadership` polls; the
        others try to take over every interval. A replica that becomes leader first reloads
        the alert state from the database, so alerts carry over without firing again.
        """
        loop = asyncio.get_running_loop()
        self.leading = leadership is None
        unsure = False  # the database could not say who leads; logged once
        polls = FailureLog(log, "Poll")
        while True:
            started = loop.time()
            if leadership is not None:
                try:
                    holds = await (leadership.confirm() if self.leading
                                   else leadership.acquire())
                    if holds and not self.leading:
                        await self.load()
                        log.info("This replica now polls InfluxDB (leader)")
                    elif self.leading and not holds:
                        log.warning("This replica lost the poller lease; another one polls now")
                    self.leading, unsure = holds, False
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    if not unsure:
                        log.error("Cannot tell whether this replica should poll (%s); "
                                  "not polling until the database answers", error)
                    self.leading, unsure = False, True
            if self.leading:
                try:
                    await self.poll_once()
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # a bug or the database: the next poll runs
                    polls.failed(f"{error.__class__.__name__}: {error}")
                    log.debug("Poll failure", exc_info=True)
                else:
                    polls.recovered()
            elapsed = loop.time() - started
            delay = self.next_delay() if self.leading else self.interval
            await self._wait(max(0.0, delay - elapsed), leadership if self.leading else None)

    async def _wait(self, seconds: float, leadership: Leadership | None) -> None:
        """Sleep until the next poll. While the source fails, that can be longer than the
        interval; a leader still touches its claim every interval, so the database does not
        take it for gone (a backed-off leader must not hand over on every retry)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while (left := until - loop.time()) > 0:
            await asyncio.sleep(min(left, self.interval) if leadership else left)
            if leadership is not None and until - loop.time() > 0:
                with contextlib.suppress(Exception):
                    await leadership.confirm()  # a loss is acted on at the next poll
