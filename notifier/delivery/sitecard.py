"""The site card (issue #27): one card for a site event, instead of one card per room.

What an on-call engineer needs at 3 a.m. first: the site is heating, how many rooms and how
badly, the likely cause, then every room by name (the worst first: level, counts, hottest
sensor). Its buttons act on every room it shows (notifier/chat/actions.py). A conversation sees
the rooms it was told of (`rooms` here), never more. Text from outside (tags, room names,
people) goes through `common.literal.shown`.
"""

from __future__ import annotations

from datetime import datetime

from common.clock import utcnow
from common.durations import duration_words
from common.literal import shown
from common.times import at
from notifier.alerts.record import AlertRecord
from notifier.alerts.sites import RoomLine, Site, common_hint
from notifier.delivery.budget import CardJson, fit_card
from notifier.delivery.cards import (
    NAME_LIMIT,
    SNOOZE_CHOICES,
    TEXT_LIMIT,
    VALUE_LIMIT,
    amount,
    local_time,
)
from storage.alerts import Snooze

SITE_NOTE = "site-note:"  # payload of a room card's update saying it joined a site event
_WORDS = {"crit": "CRITICAL", "warn": "Warning"}
_STYLES = {"crit": "attention", "warn": "warning"}


def site_words(site: Site) -> str:
    """The site in words, literal: "site ams1"."""
    return ", ".join(f"{shown(k, 40)} {shown(v, VALUE_LIMIT)}"
                     for k, v in sorted(site.tags.items())) or "the site"


def _room_text(room: RoomLine) -> str:
    if not room.open:
        return "no longer watched (no data)" if room.forgotten else "back to normal"
    level = _WORDS.get(room.severity or "", "no data")
    counts = ", ".join(f"{n} {what}" for n, what in (
        (room.crit, "critical"), (room.warn, "warning"), (room.no_data, "no data")) if n)
    hottest = (f"hottest {shown(room.hottest, VALUE_LIMIT)} {amount(room.value, room.unit)}"
               if room.hottest and room.value is not None else "")
    return " · ".join(part for part in (level, counts, hottest) if part)


def site_card(alert: AlertRecord, site: Site, rooms: set[str] | None,
              snooze: Snooze | None, now: datetime | None = None) -> CardJson:
    """The site event's card as one conversation sees it: the rooms of `rooms` (those it was
    told of; None: all)."""
    now = now or utcnow()
    shown_rooms = site.shown(rooms)
    open_rooms = [r for r in shown_rooms if r.open]
    severity = max((r.severity for r in open_rooms if r.severity),
                   key=lambda s: 2 if s == "crit" else 1, default=None)
    if site.open:
        title = (f"{_WORDS.get(severity or '', 'Alert')}: {len(open_rooms)} rooms in trouble "
                 f"at {site_words(site)}")
        style = _STYLES.get(severity or "", "warning")
    else:
        title = f"Resolved: {len(shown_rooms)} rooms at {site_words(site)}" + (
            f": {_ended_words(shown_rooms)}" if _let_go(shown_rooms) else " back to normal")
        style = "good"
    header: list[CardJson] = [
        {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True},
        {"type": "TextBlock", "text": f"Site event of {shown(site.rule, NAME_LIMIT)}"
         + (f": {shown(site.description, TEXT_LIMIT)}" if site.description else ""),
         "wrap": True, "spacing": "None"}]
    body: list[CardJson] = [
        {"type": "Container", "style": style, "bleed": True, "items": header}]
    facts = [{"title": "Since", "value": local_time(site.opened_at)}]
    if site.open:
        lasted = duration_words((now - site.opened_at).total_seconds())
        facts.append({"title": "Duration",
                      "value": f"{lasted} at {local_time(now).rsplit(' ', 1)[1]}"})
    elif site.ended_at is not None:
        facts += [{"title": "Ended", "value": local_time(site.ended_at)},
                  {"title": "Duration", "value": duration_words(
                      (site.ended_at - site.opened_at).total_seconds())}]
    body.append({"type": "FactSet", "facts": facts})
    counts = {"crit": sum(r.severity == "crit" for r in open_rooms),
              "warn": sum(r.severity == "warn" for r in open_rooms),
              "no_data": sum(r.severity is None for r in open_rooms),
              "ok": sum(not r.open and not r.forgotten for r in shown_rooms)}
    body.append({"type": "ColumnSet", "spacing": "Medium", "columns": [
        {"type": "Column", "width": "stretch", "items": [
            {"type": "TextBlock", "text": str(counts[key]), "size": "Large", "weight": "Bolder",
             "color": color if counts[key] else "Default", "horizontalAlignment": "Center"},
            {"type": "TextBlock", "text": label, "isSubtle": True, "spacing": "None",
             "horizontalAlignment": "Center", "wrap": True}]}
        for key, label, color in (("crit", "Rooms critical", "Attention"),
                                  ("warn", "Rooms warning", "Warning"),
                                  ("no_data", "Rooms no data", "Default"),
                                  ("ok", "Rooms back to ok", "Good"))]})
    hint = common_hint(shown_rooms) if site.open else ""
    if hint:  # the rooms' own likely causes (monitoring/trend.py's words), gathered
        body.append({"type": "TextBlock", "text": f"Likely cause: {hint}", "wrap": True,
                     "weight": "Bolder", "color": "Warning"})
    body.append({"type": "TextBlock", "text": "Rooms", "weight": "Bolder",
                 "spacing": "Medium"})
    body.append({"type": "FactSet", "facts": [
        {"title": shown(room.label, VALUE_LIMIT), "value": _room_text(room)}
        for room in shown_rooms]})
    if alert.acknowledged_by:
        body.append({"type": "TextBlock", "wrap": True, "text":
                     f"Acknowledged by {shown(alert.acknowledged_by, NAME_LIMIT)} at "
                     f"{local_time(alert.acknowledged_at)} (its rooms with it)"})
    if snooze is not None:
        by = f" by {shown(snooze.by_name, NAME_LIMIT)}" if snooze.by_name else ""
        body.append({"type": "TextBlock", "wrap": True,
                     "text": f"Snoozed here{by} until {local_time(snooze.until)} "
                             "(its rooms with it)"})
    body.append({"type": "TextBlock", "text": f"Site event {alert.alert_id[:8]}: buttons act "
                 "on every room listed", "size": "Small", "isSubtle": True, "wrap": True})
    card: CardJson = {
        "type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5", "body": body}
    if site.open:
        data = {"alertId": alert.alert_id}
        actions: list[CardJson] = [
            {"type": "Action.Execute", "title": "Undo acknowledge", "verb": "unack",
             "data": data} if alert.acknowledged_by else
            {"type": "Action.Execute", "title": "Acknowledge all", "verb": "ack", "data": data}]
        if snooze is not None:
            actions.append({"type": "Action.Execute", "title": "Undo snooze",
                            "verb": "unsnooze", "data": data})
        else:
            actions += [{"type": "Action.Execute", "title": label, "verb": "snooze",
                         "data": {**data, "hours": hours}} for hours, label in SNOOZE_CHOICES]
        card["actions"] = actions
    return fit_card(card)


def site_summary(site: Site) -> str:
    """The notification line of a site card."""
    open_rooms = [r for r in site.rooms.values() if r.open]
    if not site.open:
        return f"{site.rule}: site event at {site_words(site)} ended"
    return (f"{site.rule}: {len(open_rooms)} rooms in trouble at {site_words(site)} "
            f"({_WORDS.get(site.severity or '', 'no data')})")


def site_page_line(site: Site) -> str:
    """The activity feed's line for a site event: "server-room-temperature critical: 20 rooms
    at site ams1"."""
    state = {"crit": "critical", "warn": "warning"}.get(site.severity or "", "resolved")
    if not site.open:
        return f"{site.rule} resolved: {len(site.rooms)} rooms at {site_words(site)}"
    rooms = sum(r.open for r in site.rooms.values())
    return f"{site.rule} {state}: {rooms} rooms at {site_words(site)}"


def _room_names(site: Site, limit: int = 5) -> str:
    names = [shown(r.label, VALUE_LIMIT) for r in site.shown() if r.open]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def site_reminder_text(site: Site, zone: str | None = None) -> str:
    """`zone`: the reader's IANA time zone (a personal chat's), else the time is in UTC."""
    return (f"Still firing: **{shown(site.rule, NAME_LIMIT)}** at {site_words(site)}, "
            f"{sum(r.open for r in site.rooms.values())} rooms ({_room_names(site)}), since "
            f"{at(site.opened_at, zone)}")


def site_escalation_text(site: Site, rooms: list[str], waited: float, told: list[str]) -> str:
    """The note of one escalation step taken for several rooms of a site event at once (one
    note per chat, not one per room); `rooms`: their alert ids."""
    names = [shown(site.rooms[room].label, VALUE_LIMIT) for room in rooms if room in site.rooms]
    listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    count = f"{len(names)} room" + ("s" if len(names) != 1 else "")
    return (f"Escalated: nobody acknowledged **{shown(site.rule, NAME_LIMIT)}** at "
            f"{site_words(site)}, {count} critical ({listed}), for {duration_words(waited)}; "
            f"told: {', '.join(shown(name, NAME_LIMIT) for name in told) or 'nobody reachable'}.")


def _let_go(rooms: list[RoomLine]) -> int:
    """How many of the rooms ended let go without data (`forget_after`), not back to normal."""
    return sum(room.forgotten for room in rooms)


def _ended_words(rooms: list[RoomLine]) -> str:
    """ "18 back to normal, 2 no longer watched (no data)"."""
    gone = _let_go(rooms)
    return f"{len(rooms) - gone} back to normal, {gone} no longer watched (no data)"


def site_resolved_text(site: Site) -> str:
    rooms = list(site.rooms.values())
    words = _ended_words(rooms) if _let_go(rooms) else f"all {len(rooms)} rooms back to normal"
    return f"Resolved: **{shown(site.rule, NAME_LIMIT)}** at {site_words(site)}: {words}."


def with_site_note(card: CardJson, site: AlertRecord) -> CardJson:
    """A room card whose room joined a site event: from now on the site card follows it."""
    where = ", ".join(f"{shown(k, 40)} {shown(v, VALUE_LIMIT)}" for k, v in
                      sorted(site.incident.series.items())) or "its site"
    note = {"type": "TextBlock", "wrap": True, "weight": "Bolder",
            "text": f"Part of a site event at {where}: followed on the site card "
                    f"(site event {site.alert_id[:8]}) from now on."}
    return {**card, "body": [card["body"][0], note, *card["body"][1:]]}
