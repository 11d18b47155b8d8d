"""The incident as stored and read: typed, with its one (de)serialisation, and the rules about it.

Storage sits below the alert core and keeps an alert's document as JSON text
(storage/alerts.py); this module is the only place that turns that text into typed values and
back. `IncidentSnapshot` is what an incident looked like after its last batch of events (the
document `Incident.snapshot()` writes), `AlertRecord` adds the alert's row (its id, rule and
acknowledgement). Cards, the planner, escalation, history, chat and the bot read its fields.

It reads every document the last release wrote: incidents (`"incident": true`) and the alerts
recorded before incidents, one per series, which were an `AlertEvent`'s fields as JSON (no
counts, no hottest; `tests/unit/test_incident_record.py` keeps a golden copy of each).

The domain rules that used to live beside the storage live here, once: which kinds leave an
alert open (`OPEN_KINDS`), the order of severities (`rank`), what breaks a snooze
(`breaks_snooze`) and how long a snooze or a silence may last (`HOLD_MAX`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypedDict

from common.stored import number_of, time_of, time_text
from notifier.alerts.events import (
    INFLUXDB,
    EventKind,
    Severity,
    series_key,
    silenceable,
)
from storage.alerts import Snooze, StoredAlert

# The kinds of an alert's latest event that leave it open (firing, no data, source down).
OPEN_KINDS = frozenset({EventKind.FIRED, EventKind.ESCALATED, EventKind.DEESCALATED,
                        EventKind.REMINDER, EventKind.READING, EventKind.NO_DATA,
                        EventKind.SOURCE_DOWN})
# The longest snooze (a conversation) or silence (Alertmanager, from a card) people may ask
# for: a decision, so that nothing is forgotten for longer than a week. The card buttons offer
# 1 h and 24 h; `snooze` in chat and the invoke handlers refuse more.
HOLD_MAX = timedelta(days=7)
HOLD_MAX_HOURS = HOLD_MAX / timedelta(hours=1)  # 168, what a card button's `hours` may be

_RANK = {None: 0, Severity.WARN: 1, Severity.CRIT: 2}


def rank(severity: Severity | None) -> int:
    """The order of severities: none < warning < critical."""
    return _RANK[severity]


def severity_of(value: object) -> Severity | None:
    """A severity stored as text ("warn", "crit"); anything else is none."""
    return Severity(value) if value in ("warn", "crit") else None


def breaks_snooze(snooze: Snooze, severity: Severity | None) -> bool:
    """A snooze of a warning does not hold back a critical: it breaks through."""
    return rank(severity) > rank(severity_of(snooze.severity))


def _strings(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _kind(value: object) -> EventKind:
    """A stored kind; a document without one (or with one this release does not know) is
    taken as fired, as the cards did before."""
    try:
        return EventKind(str(value))
    except ValueError:
        return EventKind.FIRED


class CountsJson(TypedDict):
    crit: int
    warn: int
    no_data: int
    ok: int


class HotMemberJson(TypedDict):
    """One of the hottest series in the incident document."""

    label: str
    tags: dict[str, str]
    value: float | None
    threshold: float | None
    severity: str | None  # Severity
    no_data: bool
    trend: float | None
    inputs: str
    at: str | None  # ISO 8601


class IncidentJson(TypedDict):
    """The incident document as `IncidentSnapshot.to_json` writes it (every key). Documents of
    earlier releases, and the alerts recorded before incidents, lack some of them, so
    `from_json` reads any mapping, each key with its default."""

    incident: bool
    kind: str  # EventKind
    source: str
    rule: str
    key: str
    series: dict[str, str]
    unit: str
    severity: str | None  # Severity
    description: str
    links: dict[str, str]
    thresholds: dict[str, float]
    remind_every: float
    detail: str
    since: str | None  # the times: ISO 8601
    at: str | None
    ended_at: str | None
    last_reminded: str | None
    critical_since: str | None
    counts: CountsJson
    members: int
    value: float | None
    threshold: float | None
    peak: float | None
    peak_label: str
    forecast: str
    hint: str
    probe_faults: dict[str, str]
    broken_snoozes: list[list[str]]  # [tenant, conversation, snooze end]
    hottest: list[HotMemberJson]


@dataclass(frozen=True)
class Counts:
    """How many series of an incident are critical, warning, without data, back to ok."""

    crit: int = 0
    warn: int = 0
    no_data: int = 0
    ok: int = 0

    def to_json(self) -> CountsJson:
        return {"crit": self.crit, "warn": self.warn, "no_data": self.no_data, "ok": self.ok}

    @classmethod
    def from_json(cls, data: object) -> Counts:
        if not isinstance(data, dict):
            return cls()
        return cls(*(int(data.get(key) or 0) for key in ("crit", "warn", "no_data", "ok")))


@dataclass(frozen=True)
class HotMember:
    """One of the hottest series of an incident, as its card lists it."""

    label: str
    tags: dict[str, str] = field(default_factory=dict)
    value: float | None = None
    threshold: float | None = None
    severity: Severity | None = None
    no_data: bool = False
    trend: float | None = None
    inputs: str = ""  # what a computed value (a dew point) came from
    at: datetime | None = None  # when `value` was current

    @property
    def level(self) -> str:
        """ "critical", "warning", "no data" or "ok" """
        if self.severity is not None:
            return {Severity.CRIT: "critical", Severity.WARN: "warning"}[self.severity]
        return "no data" if self.no_data else "ok"

    def to_json(self) -> HotMemberJson:
        return {"label": self.label, "tags": self.tags, "value": self.value,
                "threshold": self.threshold,
                "severity": self.severity.value if self.severity else None,
                "no_data": self.no_data, "trend": self.trend, "inputs": self.inputs,
                "at": time_text(self.at)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> HotMember:
        return cls(label=str(data.get("label") or ""), tags=_strings(data.get("tags")),
                   value=number_of(data.get("value")), threshold=number_of(data.get("threshold")),
                   severity=severity_of(data.get("severity")),
                   no_data=bool(data.get("no_data")), trend=number_of(data.get("trend")),
                   inputs=str(data.get("inputs") or ""), at=time_of(data.get("at")))


@dataclass(frozen=True)
class IncidentSnapshot:
    """An incident (or an alert recorded before incidents) as it stood after its last batch:
    what every card, text and chat answer shows."""

    kind: EventKind  # the latest kind people were told of
    rule: str = ""
    source: str = INFLUXDB
    key: str = ""  # the group's series key
    series: dict[str, str] = field(default_factory=dict)  # the group's tags (a room)
    unit: str = ""
    severity: Severity | None = None
    description: str = ""
    links: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    remind_every: float = 0.0
    detail: str = ""
    since: datetime | None = None
    at: datetime | None = None
    ended_at: datetime | None = None
    last_reminded: datetime | None = None
    critical_since: datetime | None = None
    counts: Counts = field(default_factory=Counts)
    members: int = 0
    value: float | None = None  # the hottest series' value and threshold
    threshold: float | None = None
    peak: float | None = None
    peak_label: str = ""
    forecast: str = ""
    hint: str = ""
    probe_faults: dict[str, str] = field(default_factory=dict)
    broken_snoozes: tuple[tuple[str, str, str], ...] = ()  # tenant, conversation, snooze end
    hottest: tuple[HotMember, ...] = ()
    incident: bool = True  # False: an alert recorded before incidents (one series)
    # A site event's row (notifier/alerts/sites.py; kind "site" in its document): its own state
    # is `Site.open`; as an alert it is never open, so incident paths leave it alone.
    site_event: bool = False

    @property
    def open(self) -> bool:
        return self.kind in OPEN_KINDS and not self.site_event

    @property
    def series_key(self) -> str:
        """The series key (documents older than the `key` field have only the tags)."""
        return self.key or series_key(self.series)

    @property
    def silenceable(self) -> bool:
        """Whether it can be silenced at its source from its card."""
        return silenceable(self.source)

    @property
    def several(self) -> bool:
        """An incident of more than one series."""
        return self.members > 1

    def to_json(self) -> IncidentJson:
        return {
            "incident": self.incident, "kind": self.kind.value, "source": self.source,
            "rule": self.rule, "key": self.key, "series": self.series, "unit": self.unit,
            "severity": self.severity.value if self.severity else None,
            "description": self.description, "links": self.links,
            "thresholds": self.thresholds, "remind_every": self.remind_every,
            "detail": self.detail, "since": time_text(self.since), "at": time_text(self.at),
            "ended_at": time_text(self.ended_at), "last_reminded": time_text(self.last_reminded),
            "critical_since": time_text(self.critical_since), "counts": self.counts.to_json(),
            "members": self.members, "value": self.value, "threshold": self.threshold,
            "peak": self.peak, "peak_label": self.peak_label, "forecast": self.forecast,
            "hint": self.hint, "probe_faults": self.probe_faults,
            "broken_snoozes": [list(broken) for broken in self.broken_snoozes],
            "hottest": [member.to_json() for member in self.hottest],
        }

    def dumps(self) -> str:
        """The JSON text storage keeps."""
        return json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> IncidentSnapshot:
        thresholds = doc.get("thresholds")
        hottest = doc.get("hottest")
        broken = doc.get("broken_snoozes")
        return cls(
            kind=_kind(doc.get("kind")), rule=str(doc.get("rule") or ""),
            source=str(doc.get("source") or INFLUXDB), key=str(doc.get("key") or ""),
            series=_strings(doc.get("series")), unit=str(doc.get("unit") or ""),
            severity=severity_of(doc.get("severity")),
            description=str(doc.get("description") or ""), links=_strings(doc.get("links")),
            thresholds={str(k): float(v) for k, v in thresholds.items()
                        if number_of(v) is not None} if isinstance(thresholds, dict) else {},
            remind_every=number_of(doc.get("remind_every")) or 0.0,
            detail=str(doc.get("detail") or ""), since=time_of(doc.get("since")),
            at=time_of(doc.get("at")), ended_at=time_of(doc.get("ended_at")),
            last_reminded=time_of(doc.get("last_reminded")),
            critical_since=time_of(doc.get("critical_since")),
            counts=Counts.from_json(doc.get("counts")),
            members=int(number_of(doc.get("members")) or 0), value=number_of(doc.get("value")),
            threshold=number_of(doc.get("threshold")), peak=number_of(doc.get("peak")),
            peak_label=str(doc.get("peak_label") or ""), forecast=str(doc.get("forecast") or ""),
            hint=str(doc.get("hint") or ""), probe_faults=_strings(doc.get("probe_faults")),
            broken_snoozes=tuple((str(t), str(c), str(u)) for t, c, u in broken)
            if isinstance(broken, list) else (),
            hottest=tuple(HotMember.from_json(m) for m in hottest if isinstance(m, dict))
            if isinstance(hottest, list) else (),
            incident=bool(doc.get("incident")),
            site_event=doc.get("kind") == "site" or bool(doc.get("site_event")),
        )

    @classmethod
    def loads(cls, text: str) -> IncidentSnapshot:
        data = json.loads(text)
        return cls.from_json(data if isinstance(data, dict) else {})


@dataclass(frozen=True)
class AlertRecord:
    """An alert as stored: its latest snapshot and who acknowledged it."""

    alert_id: str
    rule: str
    incident: IncidentSnapshot
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.incident.open

    @classmethod
    def of(cls, row: StoredAlert) -> AlertRecord:
        """The one reading of a stored alert."""
        return cls(row.alert_id, row.rule, IncidentSnapshot.loads(row.document),
                   row.acknowledged_by, row.acknowledged_at)
