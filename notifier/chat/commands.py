"""Chat commands. Parsing and answers are plain data; `bots/` turns them into Teams messages.

help, status, alerts, subscribe [rule], unsubscribe [rule], mute <duration>, unmute,
ack <alert>, unack <alert>, snooze <alert> <duration>, unsnooze <alert>, history [alert], rules,
test. Anything else is answered "I didn't understand" with the short help, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.clock import utcnow
from common.durations import parse_duration
from notifier.alerts.events import Severity, stored_series_key
from notifier.chat.actions import Actor, AlertActions
from notifier.chat.history import history_list, history_of
from notifier.chat.operating import OperatingCommands
from notifier.delivery.cards import amount, local_time, when
from notifier.monitoring.engine import Phase, SeriesState
from notifier.monitoring.rules import Rule
from storage.alert_state import AlertStateStore
from storage.alerts import AlertRecord
from storage.models import Scope

SNOOZE_MAX = 7 * 86400.0

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
    return (f"**HeatWatch** posts temperature alerts on its own. {_HOW_TO_TALK[scope]}:\n\n"
            + COMMANDS_HELP)


def short_help(scope: Scope = Scope.PERSONAL) -> str:
    return (f"{_HOW_TO_TALK[scope]}: **alerts**, **status**, **ack** *alert*, **snooze** "
            "*alert* *duration*, **history**, **mute** *duration*, or **help** for all of them.")


HELP = help_text(Scope.PERSONAL)
HISTORY_LIMIT = 10  # incidents listed by `history`
STATUS_LIMIT = 40  # sensors listed by `status <room>`
STATUS_ROOMS = 25  # rooms listed by `status`: with 10,000 series the card stays far below
#                    Teams' 28 KB message limit


def _card(body: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "AdaptiveCard", "version": "1.5", "body": body,
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json"}


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
    card: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)


class Commands:
    def __init__(self, actions: AlertActions, states: AlertStateStore, rules: list[Rule],
                 operating: OperatingCommands | None = None) -> None:
        self._actions = actions
        self._states = states
        self._rules = {rule.name: rule for rule in rules}
        self._operating = operating

    def set_rules(self, rules: list[Rule]) -> None:
        """New rules (a reload)."""
        self._rules = {rule.name: rule for rule in rules}

    async def run(self, text: str, actor: Actor) -> Reply:
        words = text.strip().split()
        if not words or words[0].lower().lstrip("/") in ("help", "?"):
            return Reply(help_text(actor.scope))
        command, args = words[0].lower().lstrip("/"), words[1:]
        handler = {
            "status": self._status, "alerts": self._alerts, "ack": self._ack,
            "unack": self._unack, "snooze": self._snooze, "unsnooze": self._unsnooze,
            "history": self._history,
            "subscribe": self._subscribe, "unsubscribe": self._unsubscribe,
            "mute": self._mute, "unmute": self._unmute,
            "rules": self._rules_here, "test": self._test,
        }.get(command)
        if handler is None:
            shown = text.strip() if len(text.strip()) <= 60 else text.strip()[:60] + "…"
            return Reply(f"I didn't understand «{shown}». " + short_help(actor.scope))
        return await handler(args, actor)

    async def _status(self, args: list[str], actor: Actor) -> Reply:
        """By room (the rules' incident groups); `status <room>` lists that room's series."""
        states = [SeriesState.from_json(rule, key, data)
                  for (rule, key), data in sorted((await self._states.load()).items())]
        if not states:
            return Reply("No readings yet. HeatWatch shows sensors here after its first poll.")
        if args:
            return self._room_status(" ".join(args), states)
        rooms: dict[tuple[str, str], list[SeriesState]] = {}
        for state in states:
            rule = self._rules.get(state.rule)
            group = rule.incident_group(state.tags) if rule else {}
            rooms.setdefault((state.rule, ", ".join(group.values()) or "-"), []).append(state)
        ranked = sorted(rooms.items(), key=lambda item: _room_rank(item[1]), reverse=True)
        rows = [{"title": f"{room} · {rule}", "value": self._room_line(rule, members)}
                for (rule, room), members in ranked[:STATUS_ROOMS]]
        firing = sum(s.phase is Phase.FIRING for s in states)
        silent = sum(s.no_data_alert_id is not None for s in states)
        body: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": "Status by room", "weight": "Bolder", "size": "Medium"},
            {"type": "TextBlock", "wrap": True, "spacing": "None", "isSubtle": True,
             "text": f"{len(states)} sensors in {len(rooms)} rooms: {firing} firing, "
                     f"{silent} without data, {len(await self._actions.alerts.open_alerts())} "
                     "open alerts. Write **status** *room* for a room's sensors."},
            {"type": "FactSet", "facts": rows},
        ]
        if len(ranked) > STATUS_ROOMS:
            body.append({"type": "TextBlock", "isSubtle": True, "wrap": True,
                         "text": f"and {len(ranked) - STATUS_ROOMS} more rooms, all quieter"})
        return Reply(card=_card(body), data={"series": len(states), "rooms": len(rooms)})

    def _room_line(self, rule_name: str, members: list[SeriesState]) -> str:
        rule = self._rules.get(rule_name)
        unit = rule.unit if rule else ""
        crit = sum(s.severity is Severity.CRIT and s.phase is Phase.FIRING for s in members)
        warn = sum(s.severity is Severity.WARN and s.phase is Phase.FIRING for s in members)
        silent = sum(s.no_data_alert_id is not None for s in members)
        parts = [f"{len(members)} sensor{'s' if len(members) != 1 else ''}"]
        faults = sum(bool(s.fault) for s in members)
        parts += [f"{n} {label}" for n, label in (
            (crit, "critical"), (warn, "warning"), (silent, "no data"),
            (faults, "probe fault" if faults == 1 else "probe faults")) if n]
        hottest = max((s for s in members if s.last_value is not None and not s.fault),
                      key=lambda s: s.last_value or 0.0, default=None)
        if hottest is not None:
            label = ", ".join(v for k, v in sorted(hottest.tags.items())
                              if rule is None or k not in rule.incident_tags) or hottest.key
            parts.append(f"hottest {amount(hottest.last_value, unit)} ({label})")
        return " · ".join(parts)

    def _room_status(self, wanted: str, states: list[SeriesState]) -> Reply:
        def room_of(state: SeriesState) -> str:
            rule = self._rules.get(state.rule)
            return ", ".join((rule.incident_group(state.tags) if rule else {}).values())

        members = [s for s in states if room_of(s).lower() == wanted.lower()]
        if not members:
            rooms = sorted({room_of(s) for s in states} - {""})
            shown = ", ".join(rooms[:20]) + (" …" if len(rooms) > 20 else "")
            return Reply(f"No room `{wanted}`. Rooms: {shown or 'none'}.")
        members.sort(key=lambda s: (_series_rank(s), s.last_value or 0.0), reverse=True)
        rows = []
        for state in members[:STATUS_LIMIT]:
            rule = self._rules.get(state.rule)
            unit = rule.unit if rule else ""
            where = ", ".join(v for _, v in sorted(state.tags.items())) or state.key
            condition = ("no data" if state.no_data_alert_id else
                         f"{state.phase.value} ({state.severity.value})" if state.severity else
                         state.phase.value) + (f" · probe fault ({state.fault})"
                                               if state.fault else "")
            rows.append({"title": f"{state.rule} · {where}",
                         "value": f"{amount(state.last_value, unit)} · {condition} · "
                                  f"{local_time(state.last_seen)}"})
        body: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": f"Sensors of {wanted}", "weight": "Bolder",
             "size": "Medium"},
            {"type": "FactSet", "facts": rows},
        ]
        if len(members) > STATUS_LIMIT:
            body.append({"type": "TextBlock", "isSubtle": True, "wrap": True,
                         "text": f"and {len(members) - STATUS_LIMIT} more sensors, all cooler"})
        return Reply(card=_card(body), data={"series": len(members)})

    async def _alerts(self, args: list[str], actor: Actor) -> Reply:
        now = utcnow()
        open_alerts = await self._actions.alerts.open_alerts()
        muted = await self._actions.preferences.mute_of(actor.tenant_id, actor.conversation_id,
                                                        now)
        head = (f"**Muted here** until {when(muted[0])} (by {muted[1] or 'someone'}): no "
                "alerts come to this conversation. **unmute** ends it.\n\n" if muted else "")
        if not open_alerts:
            return Reply(head + "Nothing is firing. 🎉")
        snoozes = await self._actions.alerts.snoozes_in(actor.tenant_id, actor.conversation_id,
                                                        now)
        lines = []
        for alert in open_alerts:
            event = alert.event
            where = ", ".join(f"{k} {v}" for k, v in sorted((event.get("series") or {}).items()))
            ack = f" — acknowledged by {alert.acknowledged_by}" if alert.acknowledged_by else ""
            snooze = snoozes.get((alert.rule, stored_series_key(event)))
            if snooze is not None:
                ack += (f" — snoozed here until {when(snooze.until)}"
                        + (" (broken through: it became critical)"
                           if snooze.broken_by(event.get("severity")) else ""))
            level = event.get("severity") or event.get("kind")
            lines.append(f"- `{alert.alert_id[:8]}` **{level}"
                         f"** {event.get('rule') or 'data source'} {where} "
                         f"{amount(event.get('value'), event.get('unit', ''))}{ack}")
        return Reply(head + "Firing now:\n\n" + "\n".join(lines),
                     data={"open": len(open_alerts)})

    async def _one_alert(self, args: list[str], usage: str) -> tuple[AlertRecord | None, str]:
        """The alert an id (prefix) names, or what to tell the person."""
        if not args:
            return None, (f"Which alert? Write {usage} (the id is on the alert's card; the "
                          "first characters are enough).")
        matches = await self._actions.alerts.find(args[0].lower())
        if len(matches) != 1:
            return None, (f"No alert matches `{args[0]}`." if not matches else
                          f"`{args[0]}` matches {len(matches)} alerts; use more characters.")
        return matches[0], ""

    async def _ack(self, args: list[str], actor: Actor) -> Reply:
        alert, problem = await self._one_alert(args, "**ack** *alert*")
        if alert is None:
            return Reply(problem)
        return Reply((await self._actions.acknowledge(alert.alert_id, actor)).text)

    async def _unack(self, args: list[str], actor: Actor) -> Reply:
        alert, problem = await self._one_alert(args, "**unack** *alert*")
        if alert is None:
            return Reply(problem)
        return Reply((await self._actions.unacknowledge(alert.alert_id, actor)).text)

    async def _snooze(self, args: list[str], actor: Actor) -> Reply:
        usage = "**snooze** *alert* *duration*, like **snooze 3f2a 2h**"
        alert, problem = await self._one_alert(args, usage)
        if alert is None:
            return Reply(problem)
        try:
            seconds = parse_duration(args[1]) if len(args) > 1 else 0.0
        except ValueError:
            seconds = 0.0
        if not 0 < seconds <= SNOOZE_MAX:
            return Reply(f"For how long? Write {usage} (up to 7 days).")
        return Reply((await self._actions.snooze(alert.alert_id, seconds, actor)).text)

    async def _unsnooze(self, args: list[str], actor: Actor) -> Reply:
        alert, problem = await self._one_alert(args, "**unsnooze** *alert*")
        if alert is None:
            return Reply(problem)
        return Reply((await self._actions.unsnooze(alert.alert_id, actor)).text)

    async def _history(self, args: list[str], actor: Actor) -> Reply:
        if args:
            alert, problem = await self._one_alert(args, "**history** *alert*")
            if alert is None:
                return Reply(problem)
            return Reply(await history_of(self._actions.audit, alert, actor))
        incidents = await self._actions.alerts.recent_incidents(HISTORY_LIMIT)
        if not incidents:
            return Reply("No incidents yet.")
        acks = await self._actions.audit.first([a.alert_id for a in incidents], "acknowledged")
        return Reply(history_list(incidents, acks, utcnow()),
                     data={"incidents": len(incidents)})

    def _rule_arg(self, args: list[str]) -> tuple[str | None, str | None]:
        if not args or args[0].lower() in ("all", "everything", "*"):
            return None, None
        if args[0] not in self._rules:
            known = ", ".join(sorted(self._rules)) or "none"
            return None, f"There is no rule `{args[0]}`. Rules: {known}."
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
