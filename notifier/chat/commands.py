"""Chat commands. Parsing and answers are plain data; `bots/` turns them into Teams messages.

help, status, alerts, subscribe [rule], unsubscribe [rule], mute <duration>, unmute,
ack <alert>, unack <alert>, snooze <alert> <duration>, unsnooze <alert>, history [alert], rules,
test, report [room] [duration], oncall [schedule]. Anything else is answered "I didn't
understand" with the short help, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from common.clock import utcnow
from common.durations import parse_duration
from common.literal import more, shown
from common.times import at
from notifier.alerts.events import Severity
from notifier.alerts.record import HOLD_MAX, AlertRecord, breaks_snooze
from notifier.alerts.schedules import Schedules
from notifier.chat.access import not_found_here
from notifier.chat.actions import Actor, AlertActions
from notifier.chat.history import history_list, history_of
from notifier.chat.oncall import OnCallDesk, oncall_text
from notifier.chat.operating import OperatingCommands
from notifier.chat.report import ExposureReader, exposure_card, report_args
from notifier.chat.welcome import Watching, watching
from notifier.delivery.budget import CardJson, fit_card
from notifier.delivery.cards import NAME_LIMIT, VALUE_LIMIT, amount, local_time, where
from notifier.monitoring.engine import Phase, SeriesState
from notifier.monitoring.rules import Rule
from storage.alert_state import AlertStateStore
from storage.models import Scope

SNOOZE_MAX = HOLD_MAX.total_seconds()

COMMANDS_HELP = (
    "- **status** [*room*]: every room at a glance, or one room's sensors\n"
    "- **alerts**: what is firing now (and what is snoozed or muted here)\n"
    "- **ack** *alert* / **unack** *alert*: acknowledge an alert (stops its reminders and "
    "escalation), or undo that\n"
    "- **snooze** *alert* *duration* (like 1h) / **unsnooze** *alert*: hide an alert's updates "
    "and reminders here for a while (a critical escalation still comes through)\n"
    "- **history** [*alert*]: the last incidents, or one incident's timeline\n"
    "- **subscribe** / **unsubscribe** [*rule*]: get or stop alerts here (all rules, or one)\n"
    "- **mute** *duration* (like 30m, 2h) / **unmute**: pause all alerts here\n"
    "- **report** [*room*] [*duration*]: time outside the envelope per room (default 7d), "
    "the worst excursions, how fast alerts were acknowledged and resolved\n"
    "- **oncall** [*schedule*]: who is on call now, and who is next; **oncall take** *duration* "
    "/ **oncall give back**: be on call for a while instead, or end that\n"
    "- **rules**: the alert rules that reach this conversation, with their thresholds\n"
    "- **test**: send a test card here, to check that alerts arrive\n"
    "- **help**: this message\n\n"
    "On an alert card: **Acknowledge** (or a 👍 on the card), **Snooze 1 h**, **Snooze 24 h**, "
    "and their undo buttons. *alert* is the id on the card (the first characters are enough)."
)
_HOW_TO_TALK = {
    Scope.PERSONAL: "Type a command here",
    Scope.GROUP_CHAT: "In this group chat, @mention me and then the command, like "
                      "**@HeatWatch alerts**",
    Scope.CHANNEL: "In this channel, @mention me and then the command, like "
                   "**@HeatWatch alerts**",
}


def help_text(scope: Scope = Scope.PERSONAL) -> str:
    """The commands, and how to give them in this kind of conversation."""
    return (f"**HeatWatch** posts its alerts on its own. {_HOW_TO_TALK[scope]}:\n\n"
            + COMMANDS_HELP)


def short_help(scope: Scope = Scope.PERSONAL) -> str:
    return (f"{_HOW_TO_TALK[scope]}: **alerts**, **status**, **ack** *alert*, **snooze** "
            "*alert* *duration*, **history**, **mute** *duration*, or **help** for all of them.")


HELP = help_text(Scope.PERSONAL)

# The command table: every command `Commands.run` answers, and its line in Teams' command menu
# (manifest/manifest.template.json `commandLists`, checked by tests/operating/test_manifest.py).
# Teams takes at most 10 commands per list and 128 characters per description (Teams app manifest
# schema v1.30: commandLists[].commands maxItems 10, description maxLength 128), so the undo
# commands, subscribe and rules (None) are in **help** only.
COMMAND_TABLE: dict[str, str | None] = {
    "help": "What HeatWatch can do and how to ask",
    "status": "Every room at a glance; status <room> lists its sensors",
    "alerts": "What is firing now",
    "ack": "Acknowledge an alert: ack <alert id>",
    "snooze": "Hide an alert here for a while: snooze <alert id> 1h",
    "history": "The last incidents; history <alert id> shows one's timeline",
    "oncall": "Who is on call now and next; oncall take 2h",
    "report": "Time outside the envelope per room: report [room] [7d]",
    "mute": "Pause all alerts here: mute 2h",
    "test": "Send a test card here",
    "subscribe": None, "rules": None,
    "unack": None, "unsnooze": None, "unsubscribe": None, "unmute": None,
}
HISTORY_LIMIT = 10  # incidents listed by `history`
STATUS_LIMIT = 40  # sensors listed by `status <room>`
STATUS_ROOMS = 25  # rooms listed by `status`: with 10,000 series the card stays far below
#                    the message budget (notifier.delivery.budget)
ALERTS_LIMIT = 30  # alerts listed by `alerts`; the rest is "and N more alerts"


def plural(count: int, noun: str) -> str:
    """ "1 room", "2 rooms", "1 open alert", "0 open alerts" (English nouns with a plain -s)."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _card(body: list[CardJson]) -> CardJson:
    return fit_card({"type": "AdaptiveCard", "version": "1.5", "body": body,
                     "$schema": "http://adaptivecards.io/schemas/adaptive-card.json"})


def _series_rank(state: SeriesState) -> int:
    if state.phase is Phase.FIRING:
        return 3 if state.severity is Severity.CRIT else 2
    return 1 if state.no_data_alert_id else 0


def _room_rank(members: list[SeriesState]) -> tuple[int, int, float]:
    """Rooms in trouble first: the worst series, how many, then the hottest reading."""
    ranks = [_series_rank(s) for s in members]
    return (max(ranks), sum(r > 1 for r in ranks),
            max((s.last_value for s in members if s.last_value is not None), default=0.0))


@dataclass(frozen=True)
class Reply:
    text: str = ""
    card: CardJson | None = None
    data: dict[str, int] = field(default_factory=dict)  # what it counted (rooms, alerts)


class Commands:
    def __init__(self, actions: AlertActions, states: AlertStateStore, rules: list[Rule],
                 operating: OperatingCommands | None = None,
                 exposure: ExposureReader | None = None,
                 oncall: OnCallDesk | None = None) -> None:
        self._actions = actions
        self._exposure = exposure
        self._oncall_desk = oncall
        self._states = states
        self._rules = {rule.name: rule for rule in rules}
        self._operating = operating

    def set_rules(self, rules: list[Rule]) -> None:
        """New rules (a reload)."""
        self._rules = {rule.name: rule for rule in rules}

    def watching(self) -> Watching:
        """What the rules in force watch (the welcome's words)."""
        return watching(self._rules.values())

    async def run(self, text: str, actor: Actor) -> Reply:
        words = text.strip().split()
        if not words or words[0].lower().lstrip("/") in ("help", "?"):  # COMMAND_TABLE
            return Reply(help_text(actor.scope))
        command, args = words[0].lower().lstrip("/"), words[1:]
        handler = {
            "status": self._status, "alerts": self._alerts, "ack": self._ack,
            "unack": self._unack, "snooze": self._snooze, "unsnooze": self._unsnooze,
            "history": self._history,
            "subscribe": self._subscribe, "unsubscribe": self._unsubscribe,
            "mute": self._mute, "unmute": self._unmute,
            "rules": self._rules_here, "test": self._test, "report": self._report,
            "oncall": self._oncall,
        }.get(command)
        if handler is None:
            return Reply(f"I didn't understand «{shown(text, 60)}». " + short_help(actor.scope))
        return await handler(args, actor)

    async def _oncall(self, args: list[str], actor: Actor) -> Reply:
        """Who is on call now and next, per schedule (or in one); overrides taken in chat."""
        if self._oncall_desk is None:
            return Reply(oncall_text(Schedules(), utcnow()))
        return Reply(await self._oncall_desk.answer(
            args, actor.name, (actor.tenant_id, actor.conversation_id), utcnow()))

    def _order(self, rule: str) -> tuple[int, str]:
        """Rules in the rules file's order (rules no longer there last)."""
        names = list(self._rules)
        return (names.index(rule) if rule in names else len(names), rule)

    def _room_of(self, state: SeriesState) -> str:
        rule = self._rules.get(state.rule)
        return ", ".join((rule.incident_group(state.tags) if rule else {}).values())

    def _sensor_of(self, state: SeriesState) -> str:
        """The series' own tags (the room left out): "s1", "rack-7, inlet"."""
        rule = self._rules.get(state.rule)
        shown = [v for k, v in sorted(state.tags.items())
                 if rule is None or k not in rule.incident_tags]
        return ", ".join(shown) or state.key or "-"

    async def _status(self, args: list[str], actor: Actor) -> Reply:
        """By room, across rules (a room watched by a temperature and a humidity rule is one
        room; a sensor is one set of tags, whatever it measures); `status <room>` lays that
        room's sensors out as a table, one column per rule."""
        states = [state for (rule, key), text in sorted((await self._states.load()).items())
                  if not (state := SeriesState.loads(rule, key, text)).forgotten]
        if not states:
            return Reply("No readings yet. HeatWatch shows sensors here after its first poll.")
        told = self._actions.access.told(actor)
        if told is not None:  # not an operator: the rooms of the rules that alert here
            reaching = (await self._operating.reaching(list(self._rules.values()), actor)
                        if self._operating is not None else set())
            states = [s for s in states if s.rule in reaching]
            if not states:
                return Reply("No sensors found here: no rule alerts this conversation "
                             "(**rules** lists them).")
        if args:
            return self._room_status(" ".join(args), states)
        rooms: dict[str, list[SeriesState]] = {}
        for state in states:
            rooms.setdefault(self._room_of(state) or "-", []).append(state)
        ranked = sorted(rooms.items(), key=lambda item: _room_rank(item[1]), reverse=True)
        rows = [{"title": shown(room, VALUE_LIMIT), "value": self._room_line(members)}
                for room, members in ranked[:STATUS_ROOMS]]
        sensors = len({(room, self._sensor_of(s)) for room, members in rooms.items()
                       for s in members})
        firing = sum(s.phase is Phase.FIRING for s in states)
        silent = sum(s.no_data_alert_id is not None for s in states)
        open_alerts = len(await self._actions.alerts.open_alerts(told))
        body: list[CardJson] = [
            {"type": "TextBlock", "text": "Status by room", "weight": "Bolder", "size": "Medium"},
            {"type": "TextBlock", "wrap": True, "spacing": "None", "isSubtle": True,
             "text": f"{plural(sensors, 'sensor')} in {plural(len(rooms), 'room')}: "
                     f"{firing} firing, {silent} without data, "
                     f"{plural(open_alerts, 'open alert')}. Write **status** *room* for a "
                     "room's sensors."},
            {"type": "FactSet", "facts": rows},
        ]
        if len(ranked) > STATUS_ROOMS:
            more = len(ranked) - STATUS_ROOMS
            body.append({"type": "TextBlock", "isSubtle": True, "wrap": True,
                         "text": f"and {plural(more, 'more room')}, all quieter"})
        return Reply(card=_card(body), data={"series": len(states), "sensors": sensors,
                                             "rooms": len(rooms)})

    def _room_line(self, members: list[SeriesState]) -> str:
        """ "2 sensors · 1 warning · temperature up to 33.5 °C (s1) · humidity up to 61 % (s2)"
        (each rule's highest reading, and where)."""
        crit = sum(s.severity is Severity.CRIT and s.phase is Phase.FIRING for s in members)
        warn = sum(s.severity is Severity.WARN and s.phase is Phase.FIRING for s in members)
        silent = sum(s.no_data_alert_id is not None for s in members)
        parts = [plural(len({self._sensor_of(s) for s in members}), "sensor")]
        faults = sum(bool(s.fault) for s in members)
        parts += [f"{n} {label}" for n, label in (
            (crit, "critical"), (warn, "warning" if warn == 1 else "warnings"),
            (silent, "no data"),
            (faults, "probe fault" if faults == 1 else "probe faults")) if n]
        by_rule: dict[str, list[SeriesState]] = {}
        for state in members:
            by_rule.setdefault(state.rule, []).append(state)
        for name, series in sorted(by_rule.items(), key=lambda item: self._order(item[0])):
            rule = self._rules.get(name)
            # A probe fault is not the room's reading (#26): left out of "up to".
            highest = max((s for s in series if s.last_value is not None and not s.fault),
                          key=lambda s: s.last_value or 0.0, default=None)
            if highest is not None:
                parts.append(f"{name} up to {amount(highest.last_value, rule.unit if rule else '')}"
                             f" ({shown(self._sensor_of(highest), VALUE_LIMIT)})")
        return " · ".join(parts)

    def _room_status(self, wanted: str, states: list[SeriesState]) -> Reply:
        members = [s for s in states if self._room_of(s).lower() == wanted.lower()]
        if not members:
            rooms = sorted({self._room_of(s) for s in states} - {""})
            listed = ", ".join(shown(room, VALUE_LIMIT) for room in rooms[:20]) + (
                " …" if len(rooms) > 20 else "")
            return Reply(f"No room `{shown(wanted, 100)}`. Rooms: {listed or 'none'}.")
        # One row per sensor, one column per rule: narrow enough for a phone (Teams mobile
        # shows about 40 characters across), where "rule · room, sensor" facts wrapped.
        rule_names = sorted({s.rule for s in members}, key=self._order)
        sensors: dict[str, dict[str, SeriesState]] = {}
        for state in members:
            sensors.setdefault(self._sensor_of(state), {})[state.rule] = state
        ordered = sorted(sensors.items(), reverse=True, key=lambda item: max(
            (_series_rank(s), s.last_value or 0.0) for s in item[1].values()))

        def cell(text: str, header: bool = False, color: str = "Default") -> CardJson:
            return {"type": "TableCell", "items": [
                {"type": "TextBlock", "text": text, "wrap": True, "size": "Small",
                 "weight": "Bolder" if header else "Default", "color": color}]}

        def reading(state: SeriesState | None) -> CardJson:
            if state is None:
                return cell("-")
            rule = self._rules.get(state.rule)
            value = amount(state.last_value, rule.unit if rule else "")
            if state.fault:
                return cell(f"{value} probe fault ({shown(state.fault, VALUE_LIMIT)})",
                            color="Warning")
            if state.no_data_alert_id:
                return cell(f"{value} no data", color="Warning")
            if state.phase is Phase.FIRING and state.severity is not None:
                level = "critical" if state.severity is Severity.CRIT else "warning"
                return cell(f"{value} {level}",
                            color="Attention" if state.severity is Severity.CRIT else "Warning")
            return cell(value)

        rows = [{"type": "TableRow", "cells": [cell("Sensor", True)] + [
            cell(shown(name, NAME_LIMIT), True) for name in rule_names]}]
        for sensor, by_rule in ordered[:STATUS_LIMIT]:
            rows.append({"type": "TableRow", "cells": [cell(shown(sensor, VALUE_LIMIT))] + [
                reading(by_rule.get(name)) for name in rule_names]})
        seen = max((s.last_seen for s in members if s.last_seen is not None), default=None)
        body: list[CardJson] = [
            {"type": "TextBlock", "text": f"Sensors of {shown(wanted, 100)}", "weight": "Bolder",
             "size": "Medium"},
            {"type": "TextBlock", "isSubtle": True, "wrap": True, "spacing": "None",
             "text": f"{plural(len(sensors), 'sensor')}, latest reading "
                     f"{local_time(seen)}"},
            {"type": "Table", "firstRowAsHeader": True, "showGridLines": False,
             "columns": [{"width": 2}] + [{"width": 2} for _ in rule_names], "rows": rows},
        ]
        if len(ordered) > STATUS_LIMIT:
            more = len(ordered) - STATUS_LIMIT
            body.append({"type": "TextBlock", "isSubtle": True, "wrap": True,
                         "text": f"and {plural(more, 'more sensor')}, all cooler"})
        return Reply(card=_card(body), data={"series": len(members), "sensors": len(sensors)})

    async def _alerts(self, args: list[str], actor: Actor) -> Reply:
        now = utcnow()
        told = self._actions.access.told(actor)
        open_alerts = await self._actions.alerts.open_alerts(told)
        muted = await self._actions.preferences.mute_of(actor.tenant_id, actor.conversation_id,
                                                        now)
        head = (f"**Muted here** until {at(muted[0], actor.time_zone)} "
                f"(by {shown(muted[1] or 'someone', NAME_LIMIT)}): no alerts come to this "
                "conversation. **unmute** ends it.\n\n" if muted else "")
        if not open_alerts:
            return Reply(head + ("Nothing is firing. 🎉" if told is None else
                                 "No firing alerts found here. 🎉"))
        snoozes = await self._actions.alerts.snoozes_in(actor.tenant_id, actor.conversation_id,
                                                        now)
        lines = []
        for alert in open_alerts[:ALERTS_LIMIT]:
            event = alert.incident
            ack = (f" — acknowledged by {shown(alert.acknowledged_by, NAME_LIMIT)}"
                   if alert.acknowledged_by else "")
            snooze = snoozes.get((alert.rule, event.series_key))
            if snooze is not None:
                ack += (f" — snoozed here until {at(snooze.until, actor.time_zone)}"
                        + (" (broken through: it became critical)"
                           if breaks_snooze(snooze, event.severity) else ""))
            level = (event.severity or event.kind).value
            lines.append(f"- `{alert.alert_id[:8]}` **{level}"
                         f"** {shown(event.rule or 'data source', NAME_LIMIT)} "
                         f"{where(event)} "
                         f"{amount(event.value, event.unit)}{ack}")
        if len(open_alerts) > ALERTS_LIMIT:
            lines.append(f"- {more(ALERTS_LIMIT, len(open_alerts), 'alerts')}")
        return Reply(head + "Firing now:\n\n" + "\n".join(lines),
                     data={"open": len(open_alerts)})

    async def _one_alert(self, args: list[str], usage: str,
                         actor: Actor) -> tuple[AlertRecord | None, str]:
        """The alert an id (prefix) names among those the actor may see, or what to tell the
        person."""
        if not args:
            return None, (f"Which alert? Write {usage} (the id is on the alert's card; the "
                          "first characters are enough).")
        told = self._actions.access.told(actor)
        matches = await self._actions.alerts.find(args[0].lower(), told)
        if not matches and told is not None and await self._actions.alerts.find(
                args[0].lower()):
            self._actions.access.refused(actor, args[0], usage.split("**")[1])
        if len(matches) != 1:
            return None, (not_found_here(args[0]) if not matches else
                          f"`{shown(args[0], 40)}` matches {len(matches)} alerts; use more "
                          "characters.")
        return matches[0], ""

    async def _ack(self, args: list[str], actor: Actor) -> Reply:
        alert, problem = await self._one_alert(args, "**ack** *alert*", actor)
        if alert is None:
            return Reply(problem)
        return Reply((await self._actions.acknowledge(alert.alert_id, actor)).text)

    async def _unack(self, args: list[str], actor: Actor) -> Reply:
        alert, problem = await self._one_alert(args, "**unack** *alert*", actor)
        if alert is None:
            return Reply(problem)
        return Reply((await self._actions.unacknowledge(alert.alert_id, actor)).text)

    async def _snooze(self, args: list[str], actor: Actor) -> Reply:
        usage = "**snooze** *alert* *duration*, like **snooze 3f2a 2h**"
        alert, problem = await self._one_alert(args, usage, actor)
        if alert is None:
            return Reply(problem)
        try:
            seconds = parse_duration(args[1]) if len(args) > 1 else 0.0
        except ValueError:
            seconds = 0.0
        if not 0 < seconds <= SNOOZE_MAX:
            return Reply(f"For how long? Write {usage} (up to {HOLD_MAX.days} days).")
        return Reply((await self._actions.snooze(alert.alert_id, seconds, actor)).text)

    async def _unsnooze(self, args: list[str], actor: Actor) -> Reply:
        alert, problem = await self._one_alert(args, "**unsnooze** *alert*", actor)
        if alert is None:
            return Reply(problem)
        return Reply((await self._actions.unsnooze(alert.alert_id, actor)).text)

    async def _history(self, args: list[str], actor: Actor) -> Reply:
        if args:
            alert, problem = await self._one_alert(args, "**history** *alert*", actor)
            if alert is None:
                return Reply(problem)
            return Reply(await history_of(self._actions.audit, alert, actor))
        told = self._actions.access.told(actor)
        incidents = await self._actions.alerts.recent_incidents(HISTORY_LIMIT, told)
        if not incidents:
            return Reply("No incidents yet." if told is None else "No incidents found here.")
        ids = [a.alert_id for a in incidents]
        fires = await self._actions.audit.first(ids, "fired")
        acks = await self._actions.audit.first(ids, "acknowledged")
        return Reply(history_list(incidents, fires, acks, utcnow(), actor),
                     data={"incidents": len(incidents)})

    def _rule_arg(self, args: list[str]) -> tuple[str | None, str | None]:
        if not args or args[0].lower() in ("all", "everything", "*"):
            return None, None
        if args[0] not in self._rules:
            known = ", ".join(sorted(self._rules)) or "none"
            return None, f"There is no rule `{shown(args[0], NAME_LIMIT)}`. Rules: {known}."
        return args[0], None

    async def _subscribe(self, args: list[str], actor: Actor) -> Reply:
        rule, problem = self._rule_arg(args)
        if problem:
            return Reply(problem)
        await self._actions.subscribe(actor, rule, True)
        return Reply(f"Subscribed this conversation to {f'`{rule}`' if rule else 'all alerts'}.")

    async def _unsubscribe(self, args: list[str], actor: Actor) -> Reply:
        rule, problem = self._rule_arg(args)
        if problem:
            return Reply(problem)
        await self._actions.subscribe(actor, rule, False)
        return Reply(f"This conversation no longer gets {f'`{rule}`' if rule else 'any'} "
                     "alerts. **subscribe** brings them back.")

    async def _rules_here(self, args: list[str], actor: Actor) -> Reply:
        if self._operating is None:
            return Reply(help_text(actor.scope))
        text, count = await self._operating.rules_here(list(self._rules.values()), actor)
        return Reply(text, data={"rules": count})

    async def _test(self, args: list[str], actor: Actor) -> Reply:
        if self._operating is None:
            return Reply(help_text(actor.scope))
        return Reply(await self._operating.test(actor))

    async def _report(self, args: list[str], actor: Actor) -> Reply:
        if self._exposure is None:
            return Reply("The exposure report needs the InfluxDB monitoring (INFLUX_URL).")
        parsed = report_args(args)
        if isinstance(parsed, str):
            return Reply(parsed)
        room, seconds = parsed
        report = await self._exposure(int(seconds), room)
        told = self._actions.access.told(actor)
        if told is not None:  # not an operator: the rules that alert here, incidents told here
            reaching = (await self._operating.reaching(list(self._rules.values()), actor)
                        if self._operating is not None else set())
            report.rooms = [r for r in report.rooms if r.rule in reaching]
            worst = []
            for excursion in report.worst:
                if excursion.rule not in reaching:
                    continue
                seen = tuple([(alert_id, by) for alert_id, by in excursion.incidents
                              if told in await self._actions.alerts.audience(alert_id)])
                worst.append(replace(excursion, incidents=seen))
            report.worst = worst
        return Reply(card=exposure_card(report, room), data={"rooms": len(report.rooms)})

    async def _mute(self, args: list[str], actor: Actor) -> Reply:
        try:
            seconds = parse_duration(args[0]) if args else 0.0
        except ValueError:
            seconds = 0.0
        if seconds <= 0:
            return Reply("For how long? For example **mute 30m** or **mute 2h**.")
        return Reply((await self._actions.mute(actor, seconds)).text)

    async def _unmute(self, args: list[str], actor: Actor) -> Reply:
        return Reply((await self._actions.unmute(actor)).text)
