"""Alert rules from a TOML file (stdlib `tomllib`), validated strictly at start.

Every problem names the rule, the key and the fix. See `rules.toml` for a documented example.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from string import Formatter
from typing import Any
from urllib.parse import quote, urlparse

from common.durations import parse_duration
from common.errors import ConfigError
from notifier.alerts.events import AlertEvent, EventKind
from notifier.alerts.policies import all_targets, named_policy, policy_problems
from notifier.alerts.routes import route_problems
from notifier.alerts.routing import Escalation, parse_target
from notifier.alerts.rulesfile import parse_document
from notifier.alerts.schedules import schedule_problems, unknown_oncall_targets
from notifier.monitoring.moisture import DewPointFields

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")

LOOKBACK_MIN = 600.0  # seconds a query looks back for a series' latest point, at the least
# A series silent a week is taken out: as long as the longest snooze (notifier/alerts/record.py
# HOLD_MAX), so nothing anyone put off is forgotten before they are back.
FORGET_AFTER = 7 * 86400.0

KNOWN_KEYS = {
    "name", "measurement", "field", "where", "group_by", "unit", "warn_above", "crit_above",
    "warn_below", "crit_below", "hysteresis", "for", "no_data", "repeat", "targets",
    "description", "incident_by", "runbook_url", "dashboard_url", "escalate_after",
    "escalate_to", "escalation", "dew_point", "rise_warn", "rise_crit", "forecast_within",
    "preset", "plausible", "stuck_after", "site_by", "probe_faults_to", "update_every",
    "forget_after",
}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\S+)\s*$")

# ASHRAE TC 9.9, Thermal Guidelines for Data Processing Environments, 5th ed. (2021), reference
# card: server inlet temperature, °C. Warning at the recommended upper limit (18-27 °C for
# A1-A4; 18-22 °C for H1), critical at the class's allowable upper limit (A1 15-32, A2 10-35,
# A3 5-40, A4 5-45, H1 5-25 °C). A1-A4 and the rate checked against a public copy of the card
# (scribd.com/document/585450988/referencecard-2021thermalguidelines, Table 2.1); H1's 18-22
# and 25 °C against attom.tech's summary of the 5th edition (its 5 °C floor is issue #26's).
# Its rate limit, 20 °C per hour (5 °C per hour where tape is present; summaries of the 2015
# guidance: 5 °C in any 15 minutes), is rise_warn "5/15m"
# (the same 0.33 °C/min, judged over minutes, not an hour). rise_crit "15/15m" (1 °C/min) is
# ours, not ASHRAE's: the pace of a cooling failure (operators report 18 °C in 15 minutes
# after an air handler failed).
PRESETS: dict[str, dict[str, float | str]] = {  # rule keys and their TOML values
    "ashrae-a1": {"warn_above": 27.0, "crit_above": 32.0},
    "ashrae-a2": {"warn_above": 27.0, "crit_above": 35.0},
    "ashrae-a3": {"warn_above": 27.0, "crit_above": 40.0},
    "ashrae-a4": {"warn_above": 27.0, "crit_above": 45.0},
    "ashrae-h1": {"warn_above": 22.0, "crit_above": 25.0},
}
for _preset in PRESETS.values():
    _preset.update({"rise_warn": "5/15m", "rise_crit": "15/15m", "unit": "°C"})


@dataclass(frozen=True)
class Rate:
    """A rate limit as written: `amount` units per `seconds` ("5/15m": 5 per 15 minutes)."""

    amount: float
    seconds: float

    @property
    def per_minute(self) -> float:
        return self.amount * 60.0 / self.seconds

    def words(self, unit: str) -> str:
        """ "5 °C per 15 min" """
        minutes = self.seconds / 60
        span = f"{minutes / 60:g} h" if minutes >= 60 and minutes % 60 == 0 else \
            f"{minutes:g} min"
        return f"{self.amount:g} {unit} per {span}".replace("  ", " ")
LINK_KEYS = {"runbook_url": "runbook", "dashboard_url": "dashboard"}


@dataclass(frozen=True)
class Rule:
    name: str
    measurement: str
    field: str = "value"
    where: Mapping[str, str] = dataclasses.field(default_factory=dict)
    group_by: tuple[str, ...] = ("room", "sensor")
    unit: str = "°C"
    warn_above: float | None = None
    crit_above: float | None = None
    warn_below: float | None = None
    crit_below: float | None = None
    hysteresis: float = 0.0
    pending: float = 0.0
    no_data: float = 300.0
    repeat: float = 3600.0
    # A firing series' newer reading updates its incident's card at most this often (seconds;
    # 0: only its events do), so the card's values and peak follow `status` (engine.py).
    update_every: float = 60.0
    # A series without data this long ends its no-data alert and is no longer watched (seconds;
    # 0: never), until it reports again: a sensor taken out must not keep an incident open.
    forget_after: float = FORGET_AFTER
    targets: tuple[str, ...] = ()
    escalate_after: float = 0.0  # a critical not acknowledged this long goes to escalate_to
    escalate_to: tuple[str, ...] = ()
    policy: Escalation | None = None  # a named [[escalation]] policy (instead of the two above)
    description: str = ""
    incident_by: tuple[str, ...] | None = None  # None: group_by but the last
    site_by: tuple[str, ...] = ()  # tags that make a site of incidents (one site card)
    links: Mapping[str, str] = dataclasses.field(default_factory=dict)  # name -> URL template
    dew_point: DewPointFields | None = None  # watch the dew point of these two fields
    rise_warn: Rate | None = None  # a good trend rising at least this fast is a warning
    rise_crit: Rate | None = None  # ... a critical
    forecast_within: float = 0.0  # seconds: warn when the trend reaches crit this soon
    plausible: tuple[float, float] | None = None  # readings outside are probe faults
    stuck_after: float = 1800.0  # seconds exactly constant while neighbours move: stuck
    probe_faults_to: tuple[str, ...] = ()  # targets told of probe faults (monitoring/probes.py)
    preset: str = ""
    no_data_delta: timedelta = dataclasses.field(init=False, repr=False, compare=False)
    pending_delta: timedelta = dataclasses.field(init=False, repr=False, compare=False)
    repeat_delta: timedelta = dataclasses.field(init=False, repr=False, compare=False)
    update_delta: timedelta = dataclasses.field(init=False, repr=False, compare=False)
    forget_delta: timedelta = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Evaluated for every series on every poll: keep the timedeltas ready.
        object.__setattr__(self, "no_data_delta", timedelta(seconds=self.no_data))
        object.__setattr__(self, "pending_delta", timedelta(seconds=self.pending))
        object.__setattr__(self, "repeat_delta", timedelta(seconds=self.repeat))
        object.__setattr__(self, "update_delta", timedelta(seconds=self.update_every))
        object.__setattr__(self, "forget_delta", timedelta(seconds=self.forget_after))

    @property
    def incident_tags(self) -> tuple[str, ...]:
        """The tags that make one incident: by default one per room for ["room", "sensor"]."""
        return self.incident_by if self.incident_by is not None else self.group_by[:-1]

    def incident_group(self, tags: Mapping[str, str]) -> dict[str, str]:
        return {tag: tags[tag] for tag in self.incident_tags if tag in tags}

    def site_group(self, tags: Mapping[str, str]) -> dict[str, str] | None:
        """The tags of the site the series' incident belongs to; None: no site grouping."""
        if not self.site_by:
            return None
        return {tag: tags[tag] for tag in self.site_by if tag in tags}

    def links_for(self, group: Mapping[str, str]) -> dict[str, str]:
        """The rule's links with the group's tags filled in (URL-quoted)."""
        values = {tag: quote(value, safe="") for tag, value in group.items()}
        return {name: template.format_map(_Blank(values))
                for name, template in self.links.items()}

    @property
    def thresholds(self) -> dict[str, float]:
        return {name: value for name, value in (
            ("warn_above", self.warn_above), ("crit_above", self.crit_above),
            ("warn_below", self.warn_below), ("crit_below", self.crit_below))
            if value is not None}

    @property
    def watches(self) -> str:
        """What the rule watches, in words: "temperature.value", or "dew point of
        climate.temp and climate.rh"."""
        if self.dew_point is not None:
            return (f"dew point of {self.measurement}.{self.dew_point.temperature} and "
                    f"{self.measurement}.{self.dew_point.humidity}")
        return f"{self.measurement}.{self.field}"

    @property
    def below_only(self) -> bool:
        """Whether trouble is low values (only `below` thresholds): then the extreme reading
        is the lowest one."""
        return (self.warn_above is None and self.crit_above is None
                and (self.warn_below is not None or self.crit_below is not None))

    def more_extreme(self, value: float, than: float | None) -> bool:
        return than is None or (value < than if self.below_only else value > than)

    @property
    def lookback(self) -> float:
        """How far back a query looks for the latest point of each series."""
        return max(self.no_data * 2, LOOKBACK_MIN)


class _Blank(dict[str, str]):
    """Placeholders for tags a series does not have become empty."""

    def __missing__(self, key: str) -> str:
        return ""


class _RuleReader:
    def __init__(self, source: str, index: int, table: Mapping[str, Any]) -> None:
        self.table = table
        raw_name = table.get("name")
        self.name = raw_name if isinstance(raw_name, str) and raw_name else f"#{index + 1}"
        self.source = source
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.source}: rule {self.name!r}, key {key!r}: {message}")

    def text(self, key: str, default: str | None = None) -> str | None:
        if key not in self.table:
            return default
        value = self.table[key]
        if not isinstance(value, str) or not value.strip():
            self.problem(key, f'expected a non-empty string, like {key} = "temperature"')
            return default
        return value

    def number(self, key: str) -> float | None:
        value = self.table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(key, f"expected a number, like {key} = 30.0")
            return None
        return float(value)

    def duration(self, key: str, default: float) -> float:
        value = self.table.get(key)
        if value is None:
            return default
        try:
            return parse_duration(value)
        except ValueError:
            self.problem(key, f'expected a duration like "30s", "5m" or "1h30m", got {value!r}')
            return default

    def strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.table.get(key)
        if value is None:
            return default
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(key, f'expected a list of strings, like {key} = ["room", "sensor"]')
            return default
        return tuple(value)

    def rate(self, key: str) -> Rate | None:
        value = self.table.get(key)
        if value is None:
            return None
        match = _RATE.match(value) if isinstance(value, str) else None
        seconds = 0.0
        if match:
            try:
                seconds = parse_duration(match.group(2))
            except ValueError:
                seconds = 0.0
        if not match or seconds <= 0 or float(match.group(1)) <= 0:
            self.problem(key, f'expected degrees per duration, like {key} = "5/15m" (5 units '
                              f'in 15 minutes) or "20/1h", got {value!r}')
            return None
        return Rate(float(match.group(1)), seconds)

    def targets(self, key: str) -> tuple[str, ...]:
        """A list of targets (`targets`, `escalate_to`), each checked by `parse_target`."""
        targets = self.strings(key, ())
        for target in targets:
            try:
                parse_target(target)
            except ValueError as error:
                self.problem(key, str(error))
        return targets


def unknown_key(key: str) -> str:
    """What to say about a key no rule has: the nearest valid key, if one is near."""
    near = difflib.get_close_matches(key, sorted(KNOWN_KEYS), n=1, cutoff=0.6)
    if near:
        return f"unknown key; did you mean {near[0]!r}?"
    return ("unknown key; see the rule keys in rules.toml or docs/rules.md (name, measurement, "
            "field, warn_above, crit_above, ...)")


def _read_rule(source: str, index: int, table: Any,
               policies: Mapping[str, Escalation]) -> tuple[Rule | None, list[str]]:
    if not isinstance(table, dict):
        return None, [f"{source}: [[rule]] #{index + 1} must be a table"]
    reader = _RuleReader(source, index, table)
    for key in sorted(set(table) - KNOWN_KEYS):
        reader.problem(key, unknown_key(key))
    preset = table.get("preset")
    if preset is not None:
        if not isinstance(preset, str) or preset not in PRESETS:
            reader.problem("preset", f"unknown preset {preset!r}; one of "
                                     f"{', '.join(sorted(PRESETS))}")
        else:  # the preset's keys, each overridden by the rule's own
            table = {**PRESETS[preset], **table}
            reader.table = table
    name = reader.text("name")
    if name is None:
        reader.problem("name", 'every rule needs a name, like name = "server-room"')
    elif not _NAME.match(name):
        reader.problem("name", "use letters, digits, '-', '_', '.', ':' (at most 100)")
    measurement = reader.text("measurement")
    if measurement is None:
        reader.problem("measurement", 'name the InfluxDB measurement, like measurement = '
                                      '"temperature"')
    where = table.get("where", {})
    if not isinstance(where, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in where.items()
    ):
        reader.problem("where", 'expected a table of tag = "value", like where = { site = '
                                '"ams1" }')
        where = {}
    thresholds = {k: reader.number(k) for k in ("warn_above", "crit_above", "warn_below",
                                                "crit_below")}
    if all(v is None for v in thresholds.values()) and not (
            "rise_warn" in table or "rise_crit" in table):
        reader.problem("crit_above", "set at least one of warn_above, crit_above, warn_below, "
                                     "crit_below, rise_warn, rise_crit (or a preset)")
    wa, ca, wb, cb = (thresholds[k] for k in ("warn_above", "crit_above", "warn_below",
                                              "crit_below"))
    if wa is not None and ca is not None and ca < wa:
        reader.problem("crit_above", f"crit_above ({ca}) must be at least warn_above ({wa})")
    if wb is not None and cb is not None and cb > wb:
        reader.problem("crit_below", f"crit_below ({cb}) must be at most warn_below ({wb})")
    lowest_above = min((v for v in (wa, ca) if v is not None), default=None)
    highest_below = max((v for v in (wb, cb) if v is not None), default=None)
    if lowest_above is not None and highest_below is not None and highest_below >= lowest_above:
        reader.problem("warn_below", "the 'below' thresholds must be under the 'above' ones")
    hysteresis = reader.number("hysteresis") or 0.0
    if hysteresis < 0:
        reader.problem("hysteresis", "must be 0 or more")
    no_data = reader.duration("no_data", 300.0)
    if no_data <= 0:
        reader.problem("no_data", 'must be more than 0, like no_data = "5m"')
    # Forgotten, a series' last point should be out of the query's window (`Rule.lookback`);
    # the default grows with a long no_data (a rule of no_data = "4d" still loads).
    forget_after = reader.duration("forget_after", max(FORGET_AFTER, no_data * 2))
    if 0 < forget_after < max(no_data * 2, LOOKBACK_MIN):
        reader.problem("forget_after", f'must be "0" (never) or at least twice no_data and 10 '
                                       f'minutes ({max(no_data * 2, LOOKBACK_MIN):g}s), like '
                                       f'forget_after = "7d"')
    targets = reader.targets("targets")
    policy = named_policy(table, policies, reader.problem)
    escalate_to = reader.targets("escalate_to")
    escalate_after = reader.duration("escalate_after", 0.0)
    if escalate_to and escalate_after <= 0:
        reader.problem("escalate_after", 'say after how long an unacknowledged critical '
                                         'goes to escalate_to, like escalate_after = "10m"')
    if escalate_after > 0 and not escalate_to:
        reader.problem("escalate_to", 'name who is told when nobody acknowledges, like '
                                      'escalate_to = ["user:<AAD object id>"]')
    rise_warn, rise_crit = reader.rate("rise_warn"), reader.rate("rise_crit")
    if rise_warn and rise_crit and rise_crit.per_minute < rise_warn.per_minute:
        reader.problem("rise_crit", f"{rise_crit.per_minute:.3g}/min is slower than rise_warn "
                                    f"({rise_warn.per_minute:.3g}/min)")
    forecast_within = reader.duration("forecast_within", 0.0)
    if forecast_within > 0 and ca is None and cb is None:
        reader.problem("forecast_within", "a forecast needs crit_above or crit_below to reach")
    plausible: tuple[float, float] | None = (-20.0, 80.0) if (
        reader.text("unit", "°C") == "°C") else None
    if "plausible" in table:
        value = table["plausible"]
        if not (isinstance(value, list) and len(value) == 2 and all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in value)
                and value[0] < value[1]):
            reader.problem("plausible", "expected [lowest, highest] a working probe can read, "
                                        "like plausible = [-20, 80]")
        else:
            plausible = (float(value[0]), float(value[1]))
    stuck_after = reader.duration("stuck_after", 1800.0)
    probe_faults_to = reader.targets("probe_faults_to")
    group_by = reader.strings("group_by", ("room", "sensor"))
    incident_by: tuple[str, ...] | None = None
    if "incident_by" in table:
        value = table["incident_by"]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            reader.problem("incident_by", 'expected a list of tags, like incident_by = ["room"] '
                                          '(one incident per room), or [] for one per rule')
        elif not set(value) <= set(group_by):
            reader.problem("incident_by", f"{sorted(set(value) - set(group_by))} are not in "
                                          f"group_by {list(group_by)}: an incident groups series")
        else:
            incident_by = tuple(value)
    incident_tags = incident_by if incident_by is not None else group_by[:-1]
    site_by = _site_by(reader, table, incident_tags)
    dew_point = _dew_point(reader)
    links: dict[str, str] = {}
    for key, link in LINK_KEYS.items():
        template = reader.text(key)
        if template is None:
            continue
        fields = {name for _, name, _, _ in Formatter().parse(template) if name}
        parsed = urlparse(template.replace("{", "").replace("}", ""))
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            reader.problem(key, f'expected an http(s) URL, like {key} = '
                                '"https://wiki.example.com/runbooks/{room}"')
        elif not fields <= set(incident_tags):
            reader.problem(key, f"placeholders {sorted(fields - set(incident_tags))} are not "
                                f"incident tags {list(incident_tags)}")
        else:
            links[link] = template
    rule = Rule(
        name=name or reader.name,
        measurement=measurement or "",
        field=reader.text("field", "value") or "value",
        where=dict(where),
        group_by=group_by,
        unit=reader.text("unit", "°C") or "°C",
        warn_above=wa,
        crit_above=ca,
        warn_below=wb,
        crit_below=cb,
        hysteresis=hysteresis,
        pending=reader.duration("for", 0.0),
        no_data=no_data,
        repeat=reader.duration("repeat", 3600.0),
        update_every=reader.duration("update_every", 60.0),
        forget_after=forget_after,
        targets=targets,
        escalate_after=escalate_after,
        escalate_to=escalate_to,
        policy=policy,
        description=reader.text("description", "") or "",
        incident_by=incident_by,
        site_by=site_by,
        links=links,
        dew_point=dew_point,
        rise_warn=rise_warn,
        rise_crit=rise_crit,
        forecast_within=forecast_within,
        plausible=plausible,
        stuck_after=stuck_after,
        probe_faults_to=probe_faults_to,
        preset=preset if isinstance(preset, str) else "",
    )
    return rule, reader.problems


def _site_by(reader: _RuleReader, table: Mapping[str, Any],
             incident_tags: tuple[str, ...]) -> tuple[str, ...]:
    """`site_by = ["site"]`: the incidents (rooms) that share these tags are one site; several
    of them open at once are told as one site card (notifier/alerts/sites.py). A site groups
    incidents, so its tags are some, not all, of the incident's tags."""
    if "site_by" not in table:
        return ()
    value = table["site_by"]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v
                                                           for v in value):
        reader.problem("site_by", 'expected a list of tags, like site_by = ["site"]')
    elif not set(value) < set(incident_tags):
        reader.problem("site_by", f"{sorted(value)} must be some of the incident tags "
                                  f"{list(incident_tags)}, not all: a site groups incidents "
                                  '(like incident_by = ["site", "room"], site_by = ["site"])')
    else:
        return tuple(value)
    return ()


def _dew_point(reader: _RuleReader) -> DewPointFields | None:
    """`dew_point = { temperature = "temperature", humidity = "humidity" }`: the rule watches
    the dew point computed from these two fields of each series (instead of one `field`)."""
    if "dew_point" not in reader.table:
        return None
    value = reader.table["dew_point"]
    example = 'like dew_point = { temperature = "temperature", humidity = "humidity" }'
    if "field" in reader.table:
        reader.problem("field", "a dew point rule reads the fields named in dew_point; "
                                "remove field")
    if (not isinstance(value, dict) or set(value) != {"temperature", "humidity"}
            or not all(isinstance(v, str) and v.strip() for v in value.values())):
        reader.problem("dew_point", f"expected the two fields it is computed from, {example}")
        return None
    return DewPointFields(temperature=value["temperature"], humidity=value["humidity"])


def parse_rules(text: str, source: str = "rules") -> list[Rule]:
    return rules_of(parse_document(text, source), source)


def rules_of(document: dict[str, Any], source: str) -> list[Rule]:
    """The rules of a rules file already parsed (`notifier.alerts.rulesfile`)."""
    unknown = sorted(set(document) - {"rule", "route", "schedule", "escalation"})
    problems = [f"{source}: unknown top-level key {key!r}; rules go in [[rule]] tables "
                "(routes of the alert receivers in [[route]] tables, on-call schedules in "
                "[[schedule]] tables, escalation policies in [[escalation]] tables)"
                for key in unknown]
    policies, policy_found = policy_problems(document.get("escalation"), source)
    problems += policy_found
    routes, route_found = route_problems(document.get("route"), source, policies)
    problems += route_found
    schedules, schedule_found = schedule_problems(document.get("schedule"), source)
    problems += schedule_found
    known = {schedule.name for schedule in schedules}
    tables = document.get("rule", [])
    if not isinstance(tables, list) or not tables:
        if "route" not in document or "rule" in document:  # routes alone: receivers only
            problems.append(f"{source}: no rules; add at least one [[rule]] table")
        tables = []
    rules: list[Rule] = []
    for index, table in enumerate(tables):
        rule, rule_problems = _read_rule(source, index, table, policies)
        problems.extend(rule_problems)
        if rule is not None:
            rules.append(rule)
            if not schedule_found:
                problems += [f"{source}: rule {rule.name!r}: {target!r} names no [[schedule]]"
                             for target in unknown_oncall_targets(
                                 rule.targets + rule.escalate_to + all_targets(rule.policy)
                                 + rule.probe_faults_to,
                                 known)]
    if not schedule_found:
        for route in routes:
            escalation = all_targets(route.escalation)
            problems += [f"{source}: a [[route]]: {target!r} names no [[schedule]]"
                         for target in unknown_oncall_targets(route.targets + escalation,
                                                              known)]
    names = [rule.name for rule in rules]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{source}: rule name {duplicate!r} is used twice; names must be unique")
    if problems:
        raise ConfigError("Invalid alert rules:\n  - " + "\n  - ".join(problems))
    return rules


def load_rules(path: Path) -> list[Rule]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            f"RULES_FILE={str(path)!r} cannot be read ({error.strerror}). Point RULES_FILE at "
            "a rules file; rules.toml in the repository is a documented example."
        ) from None
    return parse_rules(text, str(path))


class RuleRouting:
    """Routing for events of the InfluxDB monitoring: a rule's `targets`, else the default;
    and its escalation (`escalate_after`, `escalate_to`). A probe-fault notice goes to the
    rule's `probe_faults_to` only (None without it: the planner then tells nobody)."""

    def __init__(self, rules: list[Rule]) -> None:
        self.update(rules)

    def update(self, rules: list[Rule]) -> None:
        """New rules (a reload): their targets apply to events published from now on."""
        self._targets = {rule.name: rule.targets for rule in rules}
        self._probe_targets = {rule.name: rule.probe_faults_to for rule in rules}
        self._escalations = {
            rule.name: rule.policy or Escalation(rule.escalate_after, rule.escalate_to)
            for rule in rules if rule.escalate_to or rule.policy}

    def targets_for(self, event: AlertEvent) -> tuple[str, ...] | None:
        if event.kind is EventKind.PROBE_NOTICE:
            return self._probe_targets.get(event.rule) or None
        return self._targets.get(event.rule) or None

    def escalation_for(self, rule: str, labels: Mapping[str, str]) -> Escalation | None:
        return self._escalations.get(rule)
