"""Alert messages as Adaptive Cards 1.5 (what Teams renders), built from plain data.

One card per incident per conversation shows the incident's current state: severity in a
container style (readable on light and dark themes, not colour alone), what it is about, the
group's tags (room), counts, the hottest series with trend arrows, since when and for how long,
the peak, the forecast, links, an optional chart, and who is on call for it and whom its
escalation paged (`paging_section`). Its buttons are Universal Actions
(`Action.Execute`) with verbs `ack`, `unack`, `snooze` and `unsnooze` (a card snoozed in
its conversation offers only the undo), plus links (`Action.OpenUrl`).

Text from outside (labels, annotations, values, rule and check names, people's names) goes
through `common.literal` (`shown`, `inert`): clipped and literal, never markup or a link. Links
come only from URL fields, as buttons saying where they go ("Runbook (runbooks.example.com)").
Lists end with "and N more"; `budget.fit_card` is the final size check of every card.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from common.clock import utcnow
from common.durations import duration_words
from common.literal import clip, host_of, inert, more, shown, web_link
from common.times import at
from common.wire import ActivityJson, MentionedJson
from notifier.alerts.events import EventKind, Severity
from notifier.alerts.record import AlertRecord, HotMember, IncidentSnapshot, breaks_snooze
from notifier.delivery.budget import CardJson, fit_card, fit_text
from storage.alerts import Snooze
from storage.inbound import Silence

if TYPE_CHECKING:  # the view renders through this module
    from notifier.delivery.paging import Paging
    from notifier.delivery.view import IncidentView

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SNOOZE_CHOICES = ((1, "Snooze 1 h"), (24, "Snooze 24 h"))
SILENCE_CHOICES = ((1, "Silence 1 h"), (24, "Silence 24 h"))
LABELLED = ("alertmanager", "grafana", "influxdb-check")  # alerts told by their labels

_TITLES = {
    EventKind.FIRED: "{severity}: {rule}",
    EventKind.ESCALATED: "{severity}: {rule}",
    EventKind.DEESCALATED: "{severity}: {rule}",
    EventKind.REMINDER: "{severity}: {rule}",
    EventKind.RESOLVED: "Resolved: {rule}",
    EventKind.NO_DATA: "No data: {rule}",
    EventKind.DATA_BACK: "Data is back: {rule}",
    EventKind.FORGOTTEN: "No longer watched: {rule}",
    EventKind.SOURCE_DOWN: "Temperature data source is down",
    EventKind.SOURCE_UP: "Temperature data source is back",
    EventKind.TEST: "TEST: {rule} (not a real alert)",
}
_SEVERITY_WORDS = {Severity.CRIT: "CRITICAL", Severity.WARN: "Warning"}
_STYLES = {Severity.CRIT: "attention", Severity.WARN: "warning"}  # themed by Teams
_ARROW_FLOOR = 0.05  # units per minute below which a series counts as steady
_LINK_TITLES = {"runbook": "Runbook", "dashboard": "Dashboard", "source": "Source",
                "alertmanager": "Open in Alertmanager", "panel": "Panel", "silence": "Silence",
                "image": "Image"}
NAME_LIMIT = 200  # characters of a rule, check or person's name shown
TEXT_LIMIT = 1500  # characters of a sender's free text (summary, description, detail)
LABEL_LIMIT = 40  # characters of a label's name on a card
VALUE_LIMIT = 300  # characters of a label's value on a card
FACTS_LIMIT = 12  # labels shown as facts; the rest is "and N more labels"
MEMBER_LABELS = 8  # labels of one alert in an incident's list
LINKS_LIMIT = 6  # link buttons kept (a decision: more would crowd out Acknowledge and Snooze)
PAGES_LIMIT = 5  # escalation steps listed on a card: the latest ones ("and N earlier")


def local_clock(moment: datetime) -> str:
    """A time of day on a card, in each reader's own zone (`{{TIME(…)}}`, as `local_time`)."""
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{{{{TIME({stamp})}}}}"


def local_time(value: str | datetime | None) -> str:
    """A moment on a card, shown in each reader's own time zone and locale by Teams'
    Adaptive Card `{{DATE(…, SHORT)}} {{TIME(…)}}` functions (strict RFC 3339 in UTC, no
    spaces inside the braces). Text replies cannot do that: they use the asker's time zone
    (common/times.py)."""
    if value is None:
        return "-"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{{{{DATE({stamp}, SHORT)}}}} {{{{TIME({stamp})}}}}"


def amount(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:g} {unit}".strip()


def trend_arrow(trend: float | None) -> str:
    if trend is None or abs(trend) < _ARROW_FLOOR:
        return "→" if trend is not None else ""
    return "↑" if trend > 0 else "↓"


def _title(event: IncidentSnapshot) -> str:
    return _TITLES.get(event.kind, "{rule}").format(
        severity=_SEVERITY_WORDS.get(event.severity, "Alert") if event.severity else "Alert",
        rule=shown(event.rule or "HeatWatch", NAME_LIMIT))


def _style(event: IncidentSnapshot) -> str:
    if not event.open:
        return "emphasis" if event.kind is EventKind.FORGOTTEN else "good"
    if event.severity is not None:
        return _STYLES[event.severity]
    return "warning"  # no data, source down


def _counts(event: IncidentSnapshot) -> CardJson:
    columns = []
    counts = event.counts
    for count, label, color in ((counts.crit, "Critical", "Attention"),
                                (counts.warn, "Warning", "Warning"),
                                (counts.no_data, "No data", "Default"),
                                (counts.ok, "Back to ok", "Good")):
        columns.append({"type": "Column", "width": "stretch", "items": [
            {"type": "TextBlock", "text": str(count), "size": "Large",
             "weight": "Bolder", "color": color if count else "Default",
             "horizontalAlignment": "Center"},
            {"type": "TextBlock", "text": label, "isSubtle": True, "spacing": "None",
             "horizontalAlignment": "Center", "wrap": True}]})
    return {"type": "ColumnSet", "columns": columns, "spacing": "Medium"}


def alert_card(view: IncidentView, now: datetime | None = None) -> CardJson:
    """The card of an incident (or of an alert recorded before incidents) as one conversation
    sees it (notifier/delivery/view.py)."""
    alert, snooze, chart = view.alert, view.snooze, view.chart
    event = alert.incident
    now = now or utcnow()
    unit = event.unit
    header: list[CardJson] = [
        {"type": "TextBlock", "text": _title(event), "weight": "Bolder", "size": "Medium",
         "wrap": True}]
    if event.description:
        header.append({"type": "TextBlock", "text": shown(event.description, TEXT_LIMIT),
                       "wrap": True, "spacing": "None"})
    body: list[CardJson] = [
        {"type": "Container", "style": _style(event), "bleed": True, "items": header}]
    labels = sorted(event.series.items())
    hottest = event.hottest
    several = event.several
    if not several and hottest:  # one series: name it beside its group (room)
        labels += [(tag, value) for tag, value in sorted(hottest[0].tags.items())
                   if tag not in event.series]
    facts = label_facts(labels)
    if not several:
        if event.value is not None:
            facts.append({"title": "Value", "value": amount(event.value, unit)})
        if event.threshold is not None:
            facts.append({"title": "Threshold", "value": amount(event.threshold, unit)})
        if hottest and hottest[0].inputs:  # a dew point: its temperature and humidity
            facts.append({"title": "Computed from", "value": hottest[0].inputs})
    started = event.since or event.at
    facts.append({"title": "Since", "value": local_time(started)})
    if started:
        if alert.open:
            # A card stays as sent until its next update: the duration says when it was true
            # (in the reader's time), never a bare "12 min" that a reader later takes as now.
            facts.append({"title": "Duration",
                          "value": f"{duration_words((now - started).total_seconds())} at "
                                   f"{local_time(now).rsplit(' ', 1)[1]}"})
        else:
            ended = event.ended_at or event.at
            facts.append({"title": "Ended", "value": local_time(ended)})
            if ended:
                facts.append({"title": "Duration",
                              "value": duration_words((ended - started).total_seconds())})
    if several and event.peak is not None:
        peak = amount(event.peak, unit)
        label = shown(event.peak_label, VALUE_LIMIT)
        facts.append({"title": "Peak", "value": f"{peak} ({label})" if label else peak})
    body.append({"type": "FactSet", "facts": facts})
    if several:
        body.append(_counts(event))
    if several and hottest and event.source in LABELLED:
        body += labels_block(event, alert.open)
    elif several and hottest:
        # Each value as of the event that last told it (a firing series' newer reading comes at
        # most once per its rule's `update_every`): its time says how fresh it is.
        body.append({"type": "TextBlock", "text": "Hottest" if alert.open else
                     "Hottest at the end", "weight": "Bolder", "spacing": "Medium"})
        body.append({"type": "FactSet", "facts": [_hot_fact(m, unit) for m in hottest]})
    if alert.open and event.forecast:
        # HeatWatch's own words (monitoring/trend.py), from numbers: not text from outside
        body.append({"type": "TextBlock", "text": event.forecast, "wrap": True,
                     "weight": "Bolder", "color": "Warning"})
    if alert.open and event.hint:  # the likely cause, from the curves' shape
        body.append({"type": "TextBlock", "text": event.hint, "wrap": True,
                     "spacing": "None"})
    if alert.open and event.probe_faults:  # the probe's doing: not paged
        listed = sorted(shown(fault, VALUE_LIMIT) for fault in event.probe_faults.values())
        body.append({"type": "TextBlock", "wrap": True, "isSubtle": True,
                     "text": "Probe faults (not paged): " + "; ".join(listed[:5])
                             + (f"; {more(5, len(listed), 'probes')}" if len(listed) > 5
                                else "")})
    if chart is not None:
        body.append(chart)
    if event.detail:
        body.append({"type": "TextBlock", "text": shown(event.detail, TEXT_LIMIT), "wrap": True,
                     "isSubtle": True})
    if alert.acknowledged_by:
        body.append({"type": "TextBlock", "wrap": True, "text":
                     f"Acknowledged by {shown(alert.acknowledged_by, NAME_LIMIT)} at "
                     f"{local_time(alert.acknowledged_at)}"})
    body += paging_section(view.paging)
    if snooze is not None:
        body.append(_snooze_block(snooze, event))
    body += silence_section(alert, view.silence, view.silenceable)
    body.append({"type": "TextBlock", "text": f"Alert {alert.alert_id[:8]}", "size": "Small",
                 "isSubtle": True})
    actions: list[CardJson] = []
    if alert.open:
        data = {"alertId": alert.alert_id}
        if alert.acknowledged_by:
            actions.append({"type": "Action.Execute", "title": "Undo acknowledge",
                            "verb": "unack", "data": data})
        else:
            actions.append({"type": "Action.Execute", "title": "Acknowledge", "verb": "ack",
                            "data": data})
        actions += _snooze_actions(event, snooze, data)
    actions += link_actions(event.links)
    card: CardJson = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return fit_card(card)


def _hot_fact(member: HotMember, unit: str) -> dict[str, str]:
    """One of the hottest series: "s2 ↑ = 33 °C at 10:09 AM · critical (≥ 32 °C) · from
    24.1 °C, 65 %RH" (the time in each reader's own zone)."""
    at = f" at {local_clock(member.at)}" if member.at is not None else ""
    return {"title": f"{shown(member.label, VALUE_LIMIT)} {trend_arrow(member.trend)}".strip(),
            "value": f"{amount(member.value, unit)}{at} · {member.level}"
                     + (f" (≥ {amount(member.threshold, unit)})"
                        if member.threshold is not None and member.severity else "")
                     + (f" · from {member.inputs}" if member.inputs else "")}


def paging_section(paging: Paging | None) -> list[CardJson]:
    """Who is on call for the incident now and who its escalation paged, by which step and
    when (notifier/delivery/paging.py; the same audit entries as `history <alert>`), then the
    next step or that an acknowledgement stopped it. Names come from outside: literal."""
    if paging is None:
        return []
    facts = []
    if paging.on_call:
        # As the Duration fact: when it was true, in the reader's time (a card stays as sent).
        people = ", ".join(f"{shown(o.person, NAME_LIMIT) if o.person else 'nobody'}"
                           f" ({o.schedule})" for o in paging.on_call)
        facts.append({"title": "On call",
                      "value": f"{people} at {local_time(paging.at).rsplit(' ', 1)[1]}"})
    pages = paging.pages[-PAGES_LIMIT:]
    if len(paging.pages) > len(pages):
        facts.append({"title": "Paged before", "value": f"{len(paging.pages) - len(pages)} "
                                                        "steps (history lists them)"})
    for page in pages:
        title = "when critical" if not page.step else f"step {page.step}" + (
            f" again ({page.again})" if page.again else "")
        facts.append({"title": f"Paged, {title}",
                      "value": f"{shown(page.told, VALUE_LIMIT)} at {local_time(page.at)}"})
    if paging.next_step is not None:
        coming = paging.next_step
        facts.append({"title": f"Next, step {coming.step}" + (" again" if coming.again else ""),
                      "value": f"{shown(coming.reaches, VALUE_LIMIT)} at "
                               f"{local_time(coming.at)}, unless acknowledged"})
    if paging.stopped:
        facts.append({"title": "Escalation", "value": "stopped by the acknowledgement"})
    if not facts:
        return []
    return [{"type": "FactSet", "facts": facts, "spacing": "Medium"}]


def label_facts(labels: list[tuple[str, Any]]) -> list[dict[str, str]]:
    """Labels (tags) as facts, "Room: server-room-1", at most `FACTS_LIMIT` ("and N more")."""
    facts = [{"title": shown(tag, LABEL_LIMIT).capitalize(), "value": shown(value, VALUE_LIMIT)}
             for tag, value in labels[:FACTS_LIMIT]]
    if len(labels) > FACTS_LIMIT:
        facts[-1] = {"title": "…", "value": more(FACTS_LIMIT - 1, len(labels), "labels")}
    return facts


def link_actions(links: dict[str, str]) -> list[CardJson]:
    """The link buttons: http(s) URLs from URL fields only, each titled with where it goes,
    like "Open in Alertmanager (am.example.com)"."""
    actions: list[CardJson] = []
    for name, url in sorted(links.items()):
        url = web_link(url)
        if url and len(actions) < LINKS_LIMIT:
            what = _LINK_TITLES.get(name) or shown(name, LABEL_LIMIT).capitalize()
            actions.append({"type": "Action.OpenUrl", "title": f"{what} ({inert(host_of(url))})",
                            "url": url})
    return actions


def labels_block(event: IncidentSnapshot, is_open: bool) -> list[CardJson]:
    """The alerts of an incident from an alert receiver, by the labels that tell them apart
    (those the group shares are above): "Critical: instance=rack-3-inlet:9100, job=sensors"."""
    group = event.series
    facts = []
    for member in event.hottest:
        own = [f"{shown(k, LABEL_LIMIT)}={shown(v, VALUE_LIMIT)}"
               for k, v in sorted(member.tags.items())
               if group.get(k) != v and k != "severity"]
        cut = own[:MEMBER_LABELS] + [more(MEMBER_LABELS, len(own), "labels")]
        facts.append({"title": member.level.capitalize(),
                      "value": ", ".join(part for part in cut if part) or "-"})
    return [{"type": "TextBlock", "text": "Alerts now" if is_open else "Alerts at the end",
             "weight": "Bolder", "spacing": "Medium"}, {"type": "FactSet", "facts": facts}]


def silence_section(alert: AlertRecord, silence: Silence | None,
                    silenceable: bool) -> list[CardJson]:
    """An Alertmanager incident's silence: who silenced it until when, and *Expire silence*;
    or, while open and not silenced, *Silence 1 h / 24 h* (verb `silence`)."""
    if not silenceable:
        return []
    data = {"alertId": alert.alert_id}
    if silence is not None:
        by = f" by {shown(silence.created_by, NAME_LIMIT)}" if silence.created_by else ""
        return [{"type": "TextBlock", "wrap": True, "text": f"Silenced in Alertmanager{by} "
                 f"until {local_time(silence.until)} "
                 f"(silence {shown(silence.silence_id, NAME_LIMIT)})"},
                {"type": "ActionSet", "actions": [{"type": "Action.Execute",
                                                   "title": "Expire silence",
                                                   "verb": "expire-silence", "data": data}]}]
    if not alert.open:
        return []
    return [{"type": "ActionSet", "actions": [
        {"type": "Action.Execute", "title": label, "verb": "silence",
         "data": {**data, "hours": hours}} for hours, label in SILENCE_CHOICES]}]


def with_notice(card: CardJson, notice: str) -> CardJson:
    """The card with a line saying what went wrong (for the person who pressed a button)."""
    return {**card, "body": [*card["body"], {"type": "TextBlock", "wrap": True,
                                             "color": "Attention",
                                             "text": shown(notice, TEXT_LIMIT)}]}


def _snooze_block(snooze: Snooze, event: IncidentSnapshot) -> CardJson:
    by = f" by {shown(snooze.by_name, NAME_LIMIT)}" if snooze.by_name else ""
    text = f"Snoozed here{by} until {local_time(snooze.until)}"
    if breaks_snooze(snooze, event.severity):
        text += ", but it became critical: this breaks through the snooze"
    return {"type": "TextBlock", "wrap": True, "text": text}


def _snooze_actions(event: IncidentSnapshot, snooze: Snooze | None,
                    data: CardJson) -> list[CardJson]:
    """Snoozed here: only the undo; else the snooze choices (for an incident of series)."""
    if snooze is not None:
        return [{"type": "Action.Execute", "title": "Undo snooze", "verb": "unsnooze",
                 "data": data}]
    if not event.series:
        return []
    return [{"type": "Action.Execute", "title": label, "verb": "snooze",
             "data": {**data, "hours": hours}} for hours, label in SNOOZE_CHOICES]


def card_activity(card: CardJson, summary: str) -> ActivityJson:
    return {"type": "message", "summary": clip(summary, NAME_LIMIT),
            "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": fit_card(card)}]}


def text_activity(text: str) -> ActivityJson:
    """A text message (markdown: HeatWatch's own bold and code; text from outside in it has
    been through `common.literal`), within the size budget."""
    return {"type": "message", "text": fit_text(text), "textFormat": "markdown"}


WHERE_LABELS = 6  # labels named in a one-line text ("room r1, sensor s3, and 4 more labels")


def where(event: IncidentSnapshot) -> str:
    """The series in words, literal: "room server-room-1, sensor rack-3-inlet"."""
    return series_words(event.series)


def series_words(series: Mapping[str, str]) -> str:
    """Tags in words, literal: "room server-room-1, sensor rack-3-inlet"."""
    labels = sorted(series.items())
    parts = [f"{shown(k, LABEL_LIMIT)} {shown(v, VALUE_LIMIT)}" for k, v in
             labels[:WHERE_LABELS]] + [more(WHERE_LABELS, len(labels), "labels")]
    return ", ".join(part for part in parts if part)


def summary_line(event: IncidentSnapshot) -> str:
    """The incident in a few words, literal: "server-room-temperature, room r1"."""
    return ", ".join(part for part in (shown(event.rule or "data source", NAME_LIMIT),
                                       where(event)) if part)


def summary(event: IncidentSnapshot) -> str:
    """One line for notifications: "server-room-temperature warning: room ..., 27.5 °C"."""
    value = amount(event.value, event.unit)
    detail = ", ".join(part for part in (where(event), value) if part and part != "-")
    rule = shown(event.rule or "HeatWatch", NAME_LIMIT)
    kind = event.kind.value
    return f"{rule} {kind}: {detail}" if detail else f"{rule} {kind}"


def _in_trouble(event: IncidentSnapshot) -> str:
    """ "3 critical, 12 warning" for an incident of several series; else empty."""
    counts = event.counts
    if not event.several:
        return ""
    return ", ".join(f"{count} {label}" for count, label in (
        (counts.crit, "critical"), (counts.warn, "warning"), (counts.no_data, "without data"))
        if count)


def _rule_and_detail(event: IncidentSnapshot, value_label: str) -> str:
    value = amount(event.value, event.unit)
    if _in_trouble(event):
        value_label = "hottest"
    parts = [where(event), _in_trouble(event)] + (
        [f"{value_label} {value}"] if value and value != "-" else [])
    detail = ", ".join(part for part in parts if part)
    rule = f"**{shown(event.rule or 'HeatWatch', NAME_LIMIT)}**"
    return f"{rule} ({detail})" if detail else rule


def reminder_text(event: IncidentSnapshot, zone: str | None = None) -> str:
    """`zone`: the reader's IANA time zone (a personal chat's), else the time is in UTC."""
    return (f"Still firing: {_rule_and_detail(event, 'now')}, "
            f"since {at(event.since, zone)}")


def break_through_text(event: IncidentSnapshot) -> str:
    """Told in a conversation that snoozed the incident while it was less severe."""
    return (f"Now CRITICAL: {_rule_and_detail(event, 'now')}. This breaks through the snooze "
            "here: a snooze of a warning does not hold back a critical.")


def escalation_text(event: IncidentSnapshot, waited: float, told: list[str]) -> str:
    return (f"Escalated: nobody acknowledged {_rule_and_detail(event, 'now')} for "
            f"{duration_words(waited)}; told: "
            f"{', '.join(shown(name, NAME_LIMIT) for name in told) or 'nobody reachable'}.")


def note_payload(text: str, mentions: list[MentionedJson]) -> str:
    """A text delivery's payload: the text, or with people to @mention (plain data: the
    sender in bots/ makes them Teams mention entities)."""
    if not mentions:
        return text
    return json.dumps({"mentions": mentions, "text": text}, sort_keys=True)


def note_activity(payload: str) -> ActivityJson:
    """The message of a text delivery; `mentions` ({"id": AAD object id, "name"}) are left
    for the sender to turn into mention entities."""
    if payload.startswith('{"mentions"'):
        data = json.loads(payload)
        return {**text_activity(str(data["text"])), "mentions": list(data["mentions"])}
    return text_activity(payload)


def resolved_text(event: IncidentSnapshot) -> str:
    if event.kind is EventKind.DATA_BACK:
        return f"Data is back: {_rule_and_detail(event, 'now')}"
    if event.kind is EventKind.SOURCE_UP:
        return "The temperature data source is back."
    if event.kind is EventKind.FORGOTTEN:  # the detail names the series and why
        rule = f"**{shown(event.rule or 'HeatWatch', NAME_LIMIT)}**"
        place = where(event)
        return (f"No longer watched: {rule}" + (f" ({place})" if place else "")
                + f": {shown(event.detail, TEXT_LIMIT)}.")
    return f"Resolved: {_rule_and_detail(event, 'now')}"
