"""`report [room] [7d]` in chat: the exposure report as a card, with a `Chart.VerticalBar` of
the minutes each room spent outside the recommended envelope.

Teams renders the Adaptive Card charts (`Chart.VerticalBar`: `data` of `{x, y, color}`; see
https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/charts-in-adaptive-cards
); other hosts drop the chart
(`fallback: drop`) and keep the table. Room names come from InfluxDB tags, the room asked for
from the person, who acknowledged from Teams: all go through `common.literal.shown` (TextBlock
and FactSet text render a markdown subset). The card is bounded (`ROOMS` rooms, `BARS` bars,
`WORST` excursions), far under Teams' 28 KB message limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from common.durations import duration_words, parse_duration
from common.literal import shown
from notifier.delivery.budget import CardJson
from notifier.delivery.cards import NAME_LIMIT, VALUE_LIMIT, local_time
from notifier.monitoring.exposure import ExposureReport

ExposureReader = Callable[[int, str | None], Awaitable[ExposureReport]]  # (seconds, room)

DEFAULT_WINDOW = 7 * 86400.0
MAX_WINDOW = 92 * 86400.0  # a quarter: the queries stay bounded by their step anyway
ROOMS = 25
BARS = 12
WORST = 5


def report_args(args: list[str]) -> tuple[str | None, float] | str:
    """`[room] [duration]` (either order of the last word), or what to tell the person."""
    seconds = DEFAULT_WINDOW
    words = list(args)
    if words:
        try:
            seconds = parse_duration(words[-1])
            words.pop()
        except ValueError:
            pass
    if not 0 < seconds <= MAX_WINDOW:
        return "Over how long? Write **report** [*room*] [*duration*], like **report 7d** " \
               "(up to 92 days)."
    return (" ".join(words) or None), seconds


def _minutes(value: float) -> str:
    return duration_words(value * 60) if value else "0 min"


def exposure_card(report: ExposureReport, asked: str | None) -> CardJson:
    room = shown(asked, VALUE_LIMIT) if asked else None
    days = (report.end - report.start).total_seconds() / 86400
    body: list[CardJson] = [
        {"type": "TextBlock", "weight": "Bolder", "size": "Medium", "wrap": True,
         "text": f"Exposure report{f' for {room}' if room else ''}, last {days:g} days"},
        {"type": "TextBlock", "wrap": True, "isSubtle": True, "spacing": "None",
         "text": f"From InfluxDB's history since {local_time(report.start)}, in steps of "
                 f"{duration_words(report.step)}: time outside the recommended / allowable "
                 "envelope (the rules' warning / critical thresholds)."}]
    if not report.rooms:
        body.append({"type": "TextBlock", "wrap": True,
                     "text": "No readings in this window" + (f" for {room}." if room else ".")})
    totals = sorted(report.minutes_by_room().items(), key=lambda item: (-item[1], item[0]))
    if any(minutes for _, minutes in totals):
        body.append({"type": "Chart.VerticalBar", "title": "Minutes outside recommended",
                     "xAxisTitle": "room", "yAxisTitle": "minutes", "fallback": "drop",
                     "data": [{"x": shown(name, 40), "y": round(minutes, 1)}
                              for name, minutes in totals[:BARS]]})
    rows = sorted(report.rooms, key=lambda r: (-r.allowable, -r.recommended, r.room, r.rule))
    if rows:
        body.append({"type": "FactSet", "facts": [
            {"title": f"{shown(row.room, VALUE_LIMIT)} · {shown(row.rule, NAME_LIMIT)}",
             "value": f"{_minutes(row.recommended)} / {_minutes(row.allowable)}"
                      + (f" · rate {_minutes(row.rate)}" if row.rate else "")}
            for row in rows[:ROOMS]]})
        if len(rows) > ROOMS:
            body.append({"type": "TextBlock", "isSubtle": True, "wrap": True,
                         "text": f"and {len(rows) - ROOMS} more, all less exposed"})
    if report.worst:
        body.append({"type": "TextBlock", "text": "Worst excursions", "weight": "Bolder",
                     "spacing": "Medium"})
        body.append({"type": "FactSet", "facts": [
            {"title": f"{shown(e.room, VALUE_LIMIT)} · {shown(e.rule, NAME_LIMIT)}",
             "value": f"{local_time(e.start)}, {_minutes(e.minutes)}, peak {e.peak:.1f} "
                      f"{e.unit}{' (outside allowable)' if e.allowable else ''}"
                      + "".join(f" · alert {alert_id[:8]}"
                                + (f" acknowledged by {shown(by, NAME_LIMIT)}" if by
                                   else " not acknowledged")
                                for alert_id, by in e.incidents)}
            for e in report.worst[:WORST]]})
    if report.responses:
        body.append({"type": "TextBlock", "text": "Response", "weight": "Bolder",
                     "spacing": "Medium"})
        body.append({"type": "FactSet", "facts": [
            {"title": {"crit": "Critical", "warn": "Warning"}.get(r.severity, r.severity),
             "value": f"{r.incidents} incident{'' if r.incidents == 1 else 's'} · MTTA "
                      f"{duration_words(r.mtta) if r.mtta is not None else '-'} "
                      f"({r.acknowledged} acknowledged) · time to resolve "
                      f"{'-' if r.time_to_resolve is None else duration_words(r.time_to_resolve)}"}
            for r in report.responses]})
    for failure in report.failures:
        body.append({"type": "TextBlock", "wrap": True, "color": "Attention",
                     "text": f"Not read: {shown(failure, VALUE_LIMIT)}"})
    return {"type": "AdaptiveCard", "version": "1.5", "body": body,
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json"}
