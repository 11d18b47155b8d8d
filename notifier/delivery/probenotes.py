"""Probe-fault notices: what a rule's `probe_faults_to` targets are told of its faulty probes.

A probe fault pages nobody and never opens an incident (notifier/monitoring/probes.py decides
which faults are told and when). The notices of one room in one poll are one text message to
the rule's `probe_faults_to` conversations, muted ones left out: which probe, what fault,
since when; and, once a probe has read well for a while, that its fault is over. They are
plain texts, not a live card: a card updated in place belongs to an incident, and an incident
is what a probe fault must not be (no status line, report, escalation or activity-feed page).
When the targets name nobody (nobody on call), nobody is told: unlike an alert, a probe fault
never falls back to the default audience.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from common.durations import duration_words
from common.literal import shown
from common.times import at
from notifier.alerts.events import AlertEvent
from notifier.alerts.routing import Key
from notifier.delivery.cards import NAME_LIMIT, VALUE_LIMIT, series_words
from storage.outbox import NewDelivery, Operation

SHOWN = 10  # probes listed in one notice; the rest are counted


def notice_text(notices: list[AlertEvent], zone: str | None = None) -> str:
    """The text of one room's notices of one poll (all of one rule and group); times in the
    reader's `zone` (a personal chat's), else in UTC."""
    first = notices[0]
    room = series_words(first.group if first.group is not None else first.series)
    rule = shown(first.rule, NAME_LIMIT)
    faults = [n for n in notices if n.detail]
    over = [n for n in notices if not n.detail]
    title = "Probe fault" if len(faults) == 1 and not over else \
        "Probe faults" if faults else "Probe fault over" if len(over) == 1 else \
        "Probe faults over"
    lines = []
    for notice in sorted(faults, key=lambda n: n.key)[:SHOWN]:
        lines.append(f"- {_probe(notice)}: {shown(notice.detail, VALUE_LIMIT)}, since "
                     f"{at(notice.since, zone)}")
    for notice in sorted(over, key=lambda n: n.key)[:max(0, SHOWN - len(lines))]:
        lasted = f", {duration_words((notice.at - notice.since).total_seconds())}" \
            if notice.since else ""
        lines.append(f"- {_probe(notice)}: reads well again (at fault since "
                     f"{at(notice.since, zone)}{lasted})")
    if len(notices) > len(lines):
        lines.append(f"- and {len(notices) - len(lines)} more probes")
    return (f"**{title}** of **{rule}** ({room}); not paged, not an incident:\n\n"
            + "\n".join(lines))


def _probe(notice: AlertEvent) -> str:
    """The probe in words, without what its room already says: "sensor rack-3"."""
    group = notice.group or {}
    own = {k: v for k, v in notice.series.items() if group.get(k) != v}
    return series_words(own or notice.series) or "-"


def notice_rows(notices: list[AlertEvent], keys: Iterable[Key],
                zones: Mapping[Key, str | None]) -> list[NewDelivery]:
    """One text delivery per conversation for one room's notices, its times in the zone of
    the conversation's reader (`zones`: personal chats'), else in UTC."""
    first = notices[0]
    event_id = "probe-" + hashlib.sha256(
        f"{first.rule}|{first.group_key}|{first.at.isoformat()}".encode()).hexdigest()[:24]
    return [NewDelivery(event_id, "", *key, Operation.TEXT, notice_text(notices, zones.get(key)))
            for key in sorted(keys)]
