"""Alert events: what any source (InfluxDB monitoring, a webhook) tells the rest of HeatWatch.

Plain data; no botbuilder or InfluxDB types. An event names its source, its rule (or the
source's alert name), its series by tags and key, severity, values and text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

INFLUXDB = "influxdb"  # the source name of events from the InfluxDB monitoring
# The sources whose incidents can be silenced at the source from their card (Alertmanager, by
# its API v2: notifier/inbound/silences.py). Decided here once, for the card, the delivery
# worker and the Silence button.
SILENCEABLE_SOURCES = frozenset({"alertmanager"})


class Severity(StrEnum):
    WARN = "warn"
    CRIT = "crit"


class EventKind(StrEnum):
    FIRED = "fired"
    ESCALATED = "escalated"
    DEESCALATED = "de-escalated"
    REMINDER = "reminder"
    # A firing series' newer reading for its incident's card (rule `update_every`): the
    # values, peak and trend only; never a page, a reminder, an audit entry or a new message.
    READING = "reading"
    RESOLVED = "resolved"
    NO_DATA = "no-data"
    DATA_BACK = "data-back"
    # A series without data for its rule's `forget_after`: its alerts end and it is no longer
    # watched until it reports again (a sensor taken out must not keep an incident open).
    FORGOTTEN = "forgotten"
    SOURCE_DOWN = "source-down"
    SOURCE_UP = "source-up"
    PROBE_FAULT = "probe-fault"  # a probe's fault (detail) or its end (no detail): a note only
    # A probe fault to tell a rule's `probe_faults_to` (detail), or its end (no detail): a
    # text to those targets only, never an incident (notifier/monitoring/probes.py)
    PROBE_NOTICE = "probe-notice"
    TEST = "test"  # a test card (`test` in chat, `python -m heatwatch test-alert`)


def silenceable(source: str) -> bool:
    """Whether an incident of this source can be silenced from its card."""
    return source in SILENCEABLE_SOURCES


def series_key(tags: dict[str, str]) -> str:
    """A stable text key for a series' tags: sorted `tag=value` pairs joined by a unit
    separator (cheap: it is computed for every series on every poll)."""
    return "\x1f".join(map("=".join, sorted(tags.items())))


def make_alert_id(rule: str, key: str, since: datetime) -> str:
    """Stable for one alert episode (rule, series, start), so retries and restarts agree."""
    digest = hashlib.sha256(f"{rule}|{key}|{since.isoformat()}".encode()).hexdigest()
    return digest[:16]


@dataclass(frozen=True)
class AlertEvent:
    kind: EventKind
    rule: str
    alert_id: str
    at: datetime
    series: dict[str, str] = field(default_factory=dict)  # the series' tags (labels)
    severity: Severity | None = None
    previous_severity: Severity | None = None
    value: float | None = None
    threshold: float | None = None
    unit: str = ""
    since: datetime | None = None
    detail: str = ""
    source: str = INFLUXDB
    key: str = ""  # series_key(series); filled in when not given
    # The incident this series belongs to: the tags it shares with the other series of its
    # group (a room), or None for an incident of its own (see notifier.alerts.incidents).
    group: dict[str, str] | None = None
    group_key: str = ""  # series_key(group), or the series key; filled in when not given
    # The site its incident belongs to (the rule's `site_by` tags), or None: no site grouping
    # (see notifier.alerts.sites).
    site: dict[str, str] | None = None
    description: str = ""  # what the rule (or the sender's alert) is about
    links: dict[str, str] = field(default_factory=dict)  # label -> URL (runbook, dashboard)
    remind_every: float = 0.0  # seconds between reminders while firing; 0 = never
    thresholds: dict[str, float] = field(default_factory=dict)  # e.g. warn_above, crit_above
    trend: float | None = None  # the series' rate of change, units per minute
    forecast: str = ""  # e.g. "rising 0.4 °C/min, critical in ~6 min"
    inputs: str = ""  # what a computed value (a dew point) came from: "24.1 °C, 65 %RH"
    peak: float | None = None  # the series' most extreme reading while firing (hottest)
    hint: str = ""  # the likely cause from the shape of the group's curves

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", series_key(self.series))
        if not self.group_key:
            object.__setattr__(self, "group_key", series_key(self.group)
                               if self.group is not None else self.key)

    @property
    def event_id(self) -> str:
        """Unique per event: one alert has one `fired`, then reminders etc. at distinct times."""
        return hashlib.sha256(
            f"{self.alert_id}|{self.kind}|{self.at.isoformat()}".encode()
        ).hexdigest()[:24]

    def describe(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in sorted(self.series.items())) or "-"
        value = f"{self.value:g}{self.unit}" if self.value is not None else "-"
        threshold = f"{self.threshold:g}{self.unit}" if self.threshold is not None else "-"
        return (f"{self.kind.value} {self.severity.value if self.severity else ''} "
                f"rule={self.rule} [{where}] value={value} threshold={threshold} "
                f"alert={self.alert_id} {self.detail}").replace("  ", " ").strip()
