"""Incidents: the series of one group (a room) that are in trouble together, told as one alert.

An incident opens when the first series of its group fires (or goes silent, or the source goes
down) and resolves when the last one is back. Its severity is the highest of its series. It
keeps the id of the event that opened it, so an incident of one series has that series' alert
id. Pure data and rules; storage and delivery live elsewhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypedDict

from common.stored import time_of, time_text
from notifier.alerts.events import AlertEvent, EventKind, Severity
from notifier.alerts.record import OPEN_KINDS, Counts, HotMember, IncidentSnapshot, rank

# The kinds that open (or keep open) an alert (notifier/alerts/record.py); a test card is
# posted once like an opening, but is never open.
OPENING = OPEN_KINDS | {EventKind.TEST}
HOTTEST = 5  # series shown on the card
LISTED_FORGOTTEN = 5  # series let go without data named in the words; the rest counted


class Change(StrEnum):
    """What a batch of events did to an incident, as people are told about it."""

    NONE = "none"  # nothing anyone sees changed
    OPENED = "opened"  # first post
    ESCALATED = "escalated"  # a higher severity: told at once
    UPDATED = "updated"  # series joined or left, de-escalated, values: gathered, then told
    RESOLVED = "resolved"  # the last series is back: told at once


class MemberJson(TypedDict, total=False):
    """A member series as stored (its JSON text in the incident's series rows). `to_json`
    writes every key (`forgotten` only when set); rows of earlier releases may lack the later
    ones (`inputs`, `seen`), so `from_json` reads each with its default."""

    tags: dict[str, str]
    severity: str | None  # Severity
    no_data: bool
    value: float | None
    threshold: float | None
    since: str | None  # ISO 8601
    trend: float | None
    forecast: str
    recovered: bool
    inputs: str
    seen: str | None  # ISO 8601
    forgotten: str


@dataclass
class Member:
    """One series of an incident."""

    key: str
    tags: dict[str, str]
    severity: Severity | None = None  # firing level; None when not firing
    no_data: bool = False
    value: float | None = None
    threshold: float | None = None
    since: datetime | None = None
    trend: float | None = None
    forecast: str = ""
    recovered: bool = False  # it was in trouble and is back to ok
    inputs: str = ""  # what its value is computed from (a dew point's temperature, humidity)
    seen: datetime | None = None  # when `value` was current (the chart ends there)
    forgotten: str = ""  # let go without data (`forgotten` event): its words; "" otherwise

    @property
    def in_trouble(self) -> bool:
        return self.severity is not None or self.no_data

    def excess(self) -> float:
        """How far past its threshold (to rank the hottest)."""
        if self.value is None or self.threshold is None:
            return 0.0
        return abs(self.value - self.threshold)

    def to_json(self) -> MemberJson:
        data: MemberJson = {
            "tags": self.tags, "severity": self.severity.value if self.severity else None,
            "no_data": self.no_data, "value": self.value, "threshold": self.threshold,
            "since": time_text(self.since), "trend": self.trend, "forecast": self.forecast,
            "recovered": self.recovered, "inputs": self.inputs, "seen": time_text(self.seen)}
        if self.forgotten:  # rare: written only when set, so other rows stay as they were
            data["forgotten"] = self.forgotten
        return data

    def dumps(self) -> str:
        """The JSON text storage keeps for the series."""
        return json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def from_json(cls, key: str, data: MemberJson) -> Member:
        severity = data.get("severity")
        return cls(key=key, tags=dict(data.get("tags") or {}),
                   severity=Severity(severity) if severity else None,
                   no_data=bool(data.get("no_data")), value=data.get("value"),
                   threshold=data.get("threshold"), since=time_of(data.get("since")),
                   trend=data.get("trend"), forecast=str(data.get("forecast") or ""),
                   recovered=bool(data.get("recovered")),
                   inputs=str(data.get("inputs") or ""), seen=time_of(data.get("seen")),
                   forgotten=str(data.get("forgotten") or ""))


@dataclass
class Incident:
    alert_id: str
    source: str
    rule: str
    group_key: str
    group: dict[str, str]
    opened_at: datetime
    kind: EventKind  # the latest event kind people were told about (fired, escalated, ...)
    unit: str = ""
    description: str = ""
    links: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    remind_every: float = 0.0
    detail: str = ""
    severity: Severity | None = None
    open: bool = True
    updated_at: datetime | None = None
    ended_at: datetime | None = None
    last_reminded: datetime | None = None
    peak: float | None = None
    peak_label: str = ""
    critical_since: datetime | None = None  # when it last became critical (escalation clock)
    hint: str = ""  # the likely cause, from the shape of the group's curves (the poller's)
    # Probe faults in the group now, by series key: "rack-3: reads 85 °C, ..." (not members:
    # a faulty probe is not in trouble).
    probe_faults: dict[str, str] = field(default_factory=dict)
    noted: bool = False  # a probe fault came or went in this batch
    # Snoozes this incident broke through (a critical came to a chat that snoozed a warning):
    # conversation -> the snooze's end, which names that snooze. Broken for the rest of the
    # incident: its reminders and its resolved note come to that chat too; a new snooze holds.
    broken_snoozes: dict[tuple[str, str], str] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)  # member keys to save

    @classmethod
    def open_with(cls, event: AlertEvent) -> Incident:
        return cls(alert_id=event.alert_id, source=event.source, rule=event.rule,
                   group_key=event.group_key,
                   group=dict(event.group if event.group is not None else event.series),
                   opened_at=event.since or event.at, kind=event.kind, unit=event.unit,
                   description=event.description, links=dict(event.links),
                   thresholds=dict(event.thresholds), remind_every=event.remind_every,
                   detail=event.detail, updated_at=event.at, last_reminded=event.at)

    # events ------------------------------------------------------------------------------

    def apply(self, event: AlertEvent) -> None:
        """Fold one event of a series into its member."""
        if event.kind is EventKind.PROBE_FAULT:  # a note on the card, not a member's level
            label = self.label(Member(event.key, dict(event.series)))
            if event.detail:
                self.probe_faults[event.key] = f"{label}: {event.detail}"
            else:
                self.probe_faults.pop(event.key, None)
            self.noted = True
            return
        member = self.members.get(event.key)
        if member is None:
            member = self.members[event.key] = Member(event.key, dict(event.series))
        kind = event.kind
        if kind in (EventKind.FIRED, EventKind.ESCALATED, EventKind.DEESCALATED,
                    EventKind.REMINDER, EventKind.READING):
            member.severity = event.severity
            member.threshold = event.threshold
            member.since = member.since or event.since
            member.recovered = False
        elif kind is EventKind.RESOLVED:
            member.severity = None
            member.recovered = not member.no_data
            self.detail = event.detail or self.detail  # e.g. "rule removed"
        elif kind in (EventKind.NO_DATA, EventKind.SOURCE_DOWN):
            member.no_data = True
            member.recovered = False
            self.detail = event.detail or self.detail
        elif kind in (EventKind.DATA_BACK, EventKind.SOURCE_UP):
            member.no_data = False
            member.recovered = member.severity is None
        elif kind is EventKind.FORGOTTEN:  # out of trouble, but not back to ok either
            member.severity, member.no_data, member.recovered = None, False, False
        member.forgotten = (event.detail or "forgotten") if kind is EventKind.FORGOTTEN else ""
        if event.value is not None:
            member.value, member.inputs, member.seen = event.value, event.inputs, event.at
        # The peak is the most extreme reading of a firing series while the incident is open:
        # the poller tracks it between events (`peak`), so a reading hotter than any event's
        # value still counts (a resolved card said 32.4 °C where status had said 33.85 °C).
        # A resolved series' own value is back past its threshold: only its peak counts.
        values = (event.peak, event.value if member.severity is not None else None)
        for value in values:
            if value is not None and self.open and (self.peak is None or self._hotter(value)):
                self.peak, self.peak_label = value, self.label(member)
        member.trend = event.trend if event.trend is not None else member.trend
        member.forecast = event.forecast if kind is not EventKind.RESOLVED else ""
        if event.hint:
            self.hint = event.hint
        if event.description:
            self.description = event.description
        if event.links:
            self.links = dict(event.links)
        if event.thresholds:
            self.thresholds = dict(event.thresholds)
        if event.remind_every:
            self.remind_every = event.remind_every
        self.dirty.add(event.key)

    def _hotter(self, value: float) -> bool:
        """A new peak: higher for `above` rules, lower for `below`-only rules."""
        assert self.peak is not None
        return value < self.peak if self._below_only() else value > self.peak

    def _below_only(self) -> bool:
        return not any(k.endswith("_above") for k in self.thresholds) and any(
            k.endswith("_below") for k in self.thresholds)

    def settle(self, now: datetime, last_kind: EventKind) -> Change:
        """Recompute severity and state after a batch of events; say what changed."""
        before_severity, was_open = self.severity, self.open
        firing = [m.severity for m in self.members.values() if m.severity is not None]
        self.severity = max(firing, key=rank) if firing else None
        self.open = any(m.in_trouble for m in self.members.values())
        self.updated_at = now
        if self.severity is not Severity.CRIT or not self.open:
            self.critical_since = None
        elif before_severity is not Severity.CRIT or self.critical_since is None:
            self.critical_since = now
        if not self.open:
            if was_open:
                self.ended_at = now
                self.kind = {EventKind.DATA_BACK: EventKind.DATA_BACK,
                             EventKind.SOURCE_UP: EventKind.SOURCE_UP,
                             EventKind.FORGOTTEN: EventKind.FORGOTTEN}.get(
                                 last_kind, EventKind.RESOLVED)
                return Change.RESOLVED
            return Change.NONE
        if rank(self.severity) > rank(before_severity):
            self.kind = EventKind.ESCALATED if before_severity is not None else EventKind.FIRED
            return Change.ESCALATED
        if rank(self.severity) < rank(before_severity):
            self.kind = (EventKind.DEESCALATED if self.severity is not None
                         else EventKind.NO_DATA)
        return Change.UPDATED if self.dirty or self.noted else Change.NONE

    def reminder_due(self, now: datetime) -> bool:
        """Whether a series' reminder should remind people of the whole incident: once per
        `remind_every` (a source that gives none decides each reminder itself)."""
        if not self.open:
            return False
        if self.remind_every <= 0:
            return True
        last = self.last_reminded or self.opened_at
        # A little slack: members fire a poll apart, and their reminders come a poll apart.
        return (now - last).total_seconds() >= self.remind_every * 0.95

    # what people see ---------------------------------------------------------------------

    def label(self, member: Member) -> str:
        """A member in words, without what its group already says: "rack-3-inlet"."""
        own = [v for k, v in sorted(member.tags.items()) if self.group.get(k) != v]
        return ", ".join(own) or ", ".join(v for _, v in sorted(member.tags.items())) or "-"

    def forgotten_words(self) -> str:
        """The series let go without data, in words: "rack-3, rack-4: no data for 7 d; …"."""
        gone = sorted((m for m in self.members.values() if m.forgotten), key=lambda m: m.key)
        if not gone:
            return ""
        labels = ", ".join(self.label(m) for m in gone[:LISTED_FORGOTTEN]) + (
            f" and {len(gone) - LISTED_FORGOTTEN} more" if len(gone) > LISTED_FORGOTTEN else "")
        return f"{labels}: {gone[0].forgotten}"

    def hottest(self, limit: int = HOTTEST) -> list[Member]:
        troubled = [m for m in self.members.values() if m.in_trouble]
        # Members that paged on their rate have no threshold (excess 0): the hotter first.
        sign = -1.0 if self._below_only() else 1.0
        troubled.sort(key=lambda m: (rank(m.severity), m.excess(), sign * (m.value or 0.0),
                                     m.key), reverse=True)
        return troubled[:limit]

    def counts(self) -> Counts:
        members = self.members.values()
        return Counts(crit=sum(m.severity is Severity.CRIT for m in members),
                      warn=sum(m.severity is Severity.WARN for m in members),
                      no_data=sum(m.no_data and m.severity is None for m in members),
                      ok=sum(m.recovered for m in members))

    def snapshot(self) -> IncidentSnapshot:
        """The incident as stored with its alert record, and as cards and chat show it."""
        hottest = self.hottest()
        top = hottest[0] if hottest else None
        return IncidentSnapshot(
            kind=self.kind, source=self.source, rule=self.rule, key=self.group_key,
            series=self.group, unit=self.unit, severity=self.severity,
            description=self.description, links=self.links, thresholds=self.thresholds,
            remind_every=self.remind_every, detail=self.forgotten_words() or self.detail,
            since=self.opened_at,
            at=self.updated_at, ended_at=self.ended_at, last_reminded=self.last_reminded,
            critical_since=self.critical_since, counts=self.counts(),
            members=len(self.members), value=top.value if top else None,
            threshold=top.threshold if top else None, peak=self.peak,
            peak_label=self.peak_label,
            forecast=next((m.forecast for m in hottest if m.forecast), ""), hint=self.hint,
            probe_faults=self.probe_faults,
            broken_snoozes=tuple((tenant, conversation, until) for (tenant, conversation), until
                                 in sorted(self.broken_snoozes.items())),
            hottest=tuple(HotMember(label=self.label(m), tags=m.tags, value=m.value,
                                    threshold=m.threshold, severity=m.severity,
                                    no_data=m.no_data, trend=m.trend, inputs=m.inputs,
                                    at=m.seen) for m in hottest))

    @classmethod
    def from_snapshot(cls, alert_id: str, doc: IncidentSnapshot,
                      members: dict[str, Member]) -> Incident:
        """The incident again from what was stored (an alert recorded before incidents
        becomes the incident of its one series)."""
        return cls(
            alert_id=alert_id, source=doc.source, rule=doc.rule, group_key=doc.key,
            group=dict(doc.series), opened_at=doc.since or doc.at or datetime.min,
            kind=doc.kind, unit=doc.unit, description=doc.description, links=dict(doc.links),
            thresholds=dict(doc.thresholds), remind_every=doc.remind_every,
            detail=doc.detail, severity=doc.severity, open=doc.ended_at is None,
            updated_at=doc.at, ended_at=doc.ended_at, last_reminded=doc.last_reminded,
            peak=doc.peak, peak_label=doc.peak_label, critical_since=doc.critical_since,
            hint=doc.hint, probe_faults=dict(doc.probe_faults),
            broken_snoozes={(tenant, conversation): until
                            for tenant, conversation, until in doc.broken_snoozes},
            members=dict(members),
        )
