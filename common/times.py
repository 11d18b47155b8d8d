"""Moments in texts, in the reader's own time zone.

Cards show each reader's local time by themselves (Teams' `{{DATE()}}`/`{{TIME()}}`, see
`notifier.delivery.cards.local_time`); a text reply is written for one person, so it uses the
IANA time zone Teams sent with that person's activity (`localTimezone`, else the `clientInfo`
entity's `timezone`; read in `bots/timezone.py` and carried by `Actor.time_zone`). A text
HeatWatch sends later to a personal chat (a reminder, a probe-fault notice) has one reader
too: it uses the zone Teams last sent with that person's message or button press (stored on
the conversation, `ConversationRegistry.remember_time_zone`). A channel or group chat has
many readers, and the audit trail none: UTC. When the zone is not known (or an unknown name)
the text is in UTC and says so: each moment ends in "UTC", and the multi-line replies
(`history`) say so once in their first line (`UNKNOWN_ZONE_NOTE`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

K = TypeVar("K", bound=Hashable)

UNKNOWN_ZONE_NOTE = "times in UTC: Teams did not tell me your time zone"


def zone(name: str | None) -> tzinfo | None:
    """The time zone of an IANA name ("Europe/Paris"); None when missing or unknown."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a folder: OSError
        return None


def known_zone(name: str | None) -> str | None:
    """The name if it is a time zone this machine knows, else None (the bots/ boundary keeps
    only names that `at` can use)."""
    return name if zone(name) is not None else None


def at(value: str | datetime | None, zone_name: str | None) -> str:
    """A moment for one reader: "2026-12-06 03:35:16 CET" in their zone ("+0530"-style when
    the zone has no abbreviation), "2026-12-06 02:35:16 UTC" when their zone is unknown."""
    if value is None:
        return "-"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    where = zone(zone_name)
    if where is None:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    local = moment.astimezone(where)
    name = local.strftime("%Z")
    if not name or name[0] in "+-":  # e.g. "+0530" for Asia/Kolkata: say it as an offset
        name = "UTC" + local.strftime("%z")
    return local.strftime("%Y-%m-%d %H:%M:%S ") + name


def by_zone(keys: Iterable[K], zones: Mapping[K, str | None]) -> dict[str | None, list[K]]:
    """`keys` (conversations) grouped by their reader's time zone name (None: not known), so
    that a text with times is written once per zone, not once per conversation."""
    groups: dict[str | None, list[K]] = {}
    for key in sorted(keys):  # type: ignore[type-var]
        groups.setdefault(zones.get(key), []).append(key)
    return groups
