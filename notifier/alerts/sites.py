"""Site events (issue #27): when incidents of several rooms of one site are open at once, each
conversation gets one site card instead of one card per room. Pure rules, no storage.

A rule's `site_by` tags (e.g. ["site"]) name the site of each of its incidents (rooms). The
decisions (docs/rules.md, *Site events*):
- A site event opens when a second room of the site is open while another still is (in the same
  poll or later); a room alone is an ordinary room card. It lasts until its last room resolves,
  even when only one room is left by then (no flapping between a site card and a room card).
- Per conversation: the rooms it would have been told of are on its site card once it is told
  of two open rooms of the site, or once it has the site card; a conversation told of one room
  only (an escalation target of that room) keeps that room's own card.
- A room card posted before its site event began stays: it is updated once to say it is part
  of the site event (the site card follows it from then on).
- The site card's severity is the highest of its open rooms; it lists every room it shows
  (open ones first, hottest first), with counts, the hottest sensor and the common cause hint.
- Acknowledging or snoozing the site card acknowledges or snoozes each of its rooms shown there.
  Escalation and activity-feed pages stay per room: a folded room still pages.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypedDict

from common.literal import shown
from common.stored import number_of, time_text
from notifier.alerts.events import EventKind, series_key
from notifier.alerts.record import IncidentSnapshot

Key = tuple[str, str]  # (tenant id, conversation id)
_RANK = {"crit": 2, "warn": 1}
SITE_KIND = "site"  # the `kind` of a site event's document (never an open alert kind)


def site_group_key(tags: Mapping[str, str]) -> str:
    """The group key of a site event's row (never equal to a room's: it is marked)."""
    return "site\x1f" + series_key(dict(tags))


def site_id(rule: str, tags: Mapping[str, str], since: datetime) -> str:
    digest = hashlib.sha256(f"site|{rule}|{series_key(dict(tags))}|{since.isoformat()}"
                            .encode()).hexdigest()
    return digest[:16]


def is_site(incident: IncidentSnapshot) -> bool:
    """Whether a stored alert is a site event's."""
    return incident.site_event


class RoomLineJson(TypedDict, total=False):
    """A room of a site event as stored (JSON text in the site's series rows); `to_json`
    writes every key, `from_json` reads each with its default."""

    label: str
    open: bool
    severity: str | None  # "crit", "warn"
    crit: int
    warn: int
    no_data: int
    ok: int
    hottest: str
    value: float | None
    hint: str
    unit: str
    forgotten: bool


class SiteJson(TypedDict):
    """A site event's document (its alert row's; read back as an `IncidentSnapshot`)."""

    kind: str  # SITE_KIND
    site_event: bool
    rule: str
    series: dict[str, str]  # the site's tags
    key: str
    source: str  # "site"
    description: str
    severity: str | None
    since: str  # the times: ISO 8601
    at: str | None
    ended_at: str | None
    remind_every: float
    last_reminded: str | None
    rooms: int
    rooms_open: int


@dataclass(frozen=True)
class RoomLine:
    """One room of a site event, as its card lists it."""

    alert_id: str
    label: str  # the room's own tags ("dc1-a")
    open: bool
    severity: str | None = None
    crit: int = 0
    warn: int = 0
    no_data: int = 0
    ok: int = 0
    hottest: str = ""  # the hottest series' label
    value: float | None = None  # its value
    hint: str = ""  # the room card's likely cause
    unit: str = ""
    forgotten: bool = False  # ended without data for `forget_after`: let go, not back to ok

    @property
    def rank(self) -> tuple[int, int, float]:
        return (int(self.open), _RANK.get(self.severity or "", 0),
                self.value if self.value is not None else float("-inf"))

    def to_json(self) -> RoomLineJson:
        return {"label": self.label, "open": self.open, "severity": self.severity,
                "crit": self.crit, "warn": self.warn, "no_data": self.no_data, "ok": self.ok,
                "hottest": self.hottest, "value": self.value, "hint": self.hint,
                "unit": self.unit, "forgotten": self.forgotten}

    @classmethod
    def from_json(cls, alert_id: str, data: RoomLineJson) -> RoomLine:
        return cls(alert_id=alert_id, label=str(data.get("label") or "-"),
                   open=bool(data.get("open")), severity=data.get("severity") or None,
                   crit=int(data.get("crit") or 0), warn=int(data.get("warn") or 0),
                   no_data=int(data.get("no_data") or 0), ok=int(data.get("ok") or 0),
                   hottest=str(data.get("hottest") or ""), value=number_of(data.get("value")),
                   hint=str(data.get("hint") or ""), unit=str(data.get("unit") or ""),
                   forgotten=bool(data.get("forgotten")))


def room_line(alert_id: str, incident: IncidentSnapshot, site_tags: Mapping[str, str],
              is_open: bool) -> RoomLine:
    """What a site card needs of one room's incident."""
    group = incident.series
    own = [v for k, v in sorted(group.items()) if k not in site_tags]
    counts = incident.counts
    hottest = incident.hottest[0] if incident.hottest else None
    return RoomLine(
        alert_id=alert_id, label=", ".join(own) or ", ".join(group.values()) or "-",
        open=is_open,
        severity=incident.severity.value if is_open and incident.severity else None,
        crit=counts.crit, warn=counts.warn, no_data=counts.no_data, ok=counts.ok,
        hottest=hottest.label if is_open and hottest else "",
        value=hottest.value if is_open and hottest else None,
        hint=incident.hint if is_open else "", unit=incident.unit,
        forgotten=not is_open and incident.kind is EventKind.FORGOTTEN)


@dataclass
class Site:
    """A site event: the rooms of one site open at once, told as one card."""

    alert_id: str
    rule: str
    tags: dict[str, str]
    opened_at: datetime
    description: str = ""
    severity: str | None = None
    open: bool = True
    updated_at: datetime | None = None
    ended_at: datetime | None = None
    remind_every: float = 0.0
    last_reminded: datetime | None = None
    rooms: dict[str, RoomLine] = field(default_factory=dict)

    @property
    def group_key(self) -> str:
        return site_group_key(self.tags)

    def settle(self, now: datetime) -> tuple[bool, bool]:
        """Recompute severity and state from the rooms: (more severe now, ended now)."""
        before, was_open = self.severity, self.open
        open_rooms = [r for r in self.rooms.values() if r.open]
        severities = [r.severity for r in open_rooms if r.severity]
        self.severity = max(severities, key=_RANK.__getitem__) if severities else None
        self.open = bool(open_rooms)
        self.updated_at = now
        if was_open and not self.open:
            self.ended_at = now
        return (_RANK.get(self.severity or "", 0) > _RANK.get(before or "", 0),
                was_open and not self.open)

    def shown(self, rooms: Iterable[str] | None = None) -> list[RoomLine]:
        """The rooms a card lists (those of `rooms`, or all): open first, worst first."""
        chosen = [r for r in self.rooms.values() if rooms is None or r.alert_id in rooms]
        return sorted(chosen, key=lambda r: (r.rank, r.label), reverse=True)

    def reminder_due(self, now: datetime) -> bool:
        if not self.open or self.remind_every <= 0:
            return False
        last = self.last_reminded or self.opened_at
        return (now - last).total_seconds() >= self.remind_every * 0.95

    def dumps(self) -> str:
        """The site event's document as storage keeps it (JSON text)."""
        return json.dumps(self.document(), sort_keys=True)

    def document(self) -> SiteJson:
        open_rooms = [r for r in self.rooms.values() if r.open]
        return {"kind": SITE_KIND, "site_event": True, "rule": self.rule, "series": self.tags,
                "key": self.group_key, "source": "site", "description": self.description,
                "severity": self.severity, "since": self.opened_at.isoformat(),
                "at": time_text(self.updated_at), "ended_at": time_text(self.ended_at),
                "remind_every": self.remind_every,
                "last_reminded": time_text(self.last_reminded),
                "rooms": len(self.rooms), "rooms_open": len(open_rooms)}

    @classmethod
    def from_record(cls, alert_id: str, incident: IncidentSnapshot,
                    rooms: Mapping[str, str]) -> Site:
        """The site event from its stored snapshot and its rooms' rows (key -> JSON text)."""
        return cls(alert_id=alert_id, rule=incident.rule, tags=dict(incident.series),
                   opened_at=incident.since or datetime.min,
                   description=incident.description,
                   severity=incident.severity.value if incident.severity else None,
                   open=incident.ended_at is None, updated_at=incident.at,
                   ended_at=incident.ended_at, remind_every=incident.remind_every,
                   last_reminded=incident.last_reminded,
                   rooms={key: RoomLine.from_json(key, json.loads(data))
                          for key, data in rooms.items()})


def opens_site(open_rooms: int) -> bool:
    """A site event begins when a second room of the site is open at once."""
    return open_rooms >= 2


def on_site_card(told: Mapping[Key, set[str]], open_rooms: set[str],
                 site_told: set[Key]) -> set[Key]:
    """The conversations whose rooms of the site go on one site card: those that have it
    already, and those told of at least two of its open rooms."""
    return {key for key, rooms in told.items()
            if key in site_told or len(rooms & open_rooms) >= 2}


def common_hint(rooms: Iterable[RoomLine]) -> str:
    """The likely cause most rooms share, from their cards' hints: "cooling failure? in 18
    of 20 rooms (dc1-a: fast rise in 6 of 8 sensors)"; empty without hints."""
    lines = [r for r in rooms if r.open]
    causes = Counter(r.hint.rsplit(": ", 1)[-1] for r in lines if r.hint)
    if not causes:
        return ""
    cause, count = causes.most_common(1)[0]
    example = next(r for r in lines if r.hint and r.hint.rsplit(": ", 1)[-1] == cause)
    return (f"{cause} in {count} of {len(lines)} room{'s' if len(lines) != 1 else ''} "
            f"({shown(example.label, 80)}: {example.hint.rsplit(': ', 1)[0]})")
