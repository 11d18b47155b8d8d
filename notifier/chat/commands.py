"""Chat commands. Parsing and answers are plain data; `bots/` turns them into Teams messages.

help, status, alerts, subscribe [rule], unsubscribe [rule], mute <duration>, unmute,
ack <alert>, rules, test. Anything else gets help, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.clock import utcnow
from notifier.alerts.events import Severity
from notifier.chat.actions import Actor, AlertActions
from notifier.chat.operating import OperatingCommands
from notifier.delivery.cards import amount, when
from notifier.monitoring.engine import Phase, SeriesState
from notifier.monitoring.rules import Rule, parse_duration
from storage.alert_state import AlertStateStore

HELP = (
    "**HeatWatch** posts temperature alerts here on its own. Commands:\n\n"
    "- **status** [*room*]: every room at a glance, or one room's sensors\n"
    "- **alerts**: what is firing now\n"
    "- **ack** *alert*: acknowledge an alert (stops its reminders)\n"
    "- **subscribe** / **unsubscribe** [*rule*]: get or stop alerts here (all rules, or one)\n"
    "- **mute** *duration* (like 30m, 2h) / **unmute**: pause alerts here\n"
    "- **rules**: the alert rules that reach this conversation, with their thresholds\n"
    "- **test**: send a test card here, to check that alerts arrive\n"
    "- **help**: this message\n\n"
    "On an alert card: **Acknowledge**, **Snooze 1 h**, **Snooze 24 h**; a 👍 on the card "
    "acknowledges too."
)
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
        if not words:
            return Reply(HELP)
        command, args = words[0].lower().lstrip("/"), words[1:]
        handler = {
            "status": self._status, "alerts": self._alerts, "ack": self._ack,
            "subscribe": self._subscribe, "unsubscribe": self._unsubscribe,
            "mute": self._mute, "unmute": self._unmute,
            "rules": self._rules_here, "test": self._test,
        }.get(command)
        if handler is None:
            return Reply(HELP)
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
        parts += [f"{n} {label}" for n, label in (
            (crit, "critical"), (warn, "warning"), (silent, "no data")) if n]
        hottest = max((s for s in members if s.last_value is not None),
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
                         state.phase.value)
            rows.append({"title": f"{state.rule} · {where}",
                         "value": f"{amount(state.last_value, unit)} · {condition} · "
                                  f"{when(state.last_seen)}"})
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
        open_alerts = await self._actions.alerts.open_alerts()
        if not open_alerts:
            return Reply("Nothing is firing. 🎉")
        lines = []
        for alert in open_alerts:
            event = alert.event
            where = ", ".join(f"{k} {v}" for k, v in sorted((event.get("series") or {}).items()))
            ack = f" — acknowledged by {alert.acknowledged_by}" if alert.acknowledged_by else ""
            level = event.get("severity") or event.get("kind")
            lines.append(f"- `{alert.alert_id[:8]}` **{level}"
                         f"** {event.get('rule') or 'data source'} {where} "
                         f"{amount(event.get('value'), event.get('unit', ''))}{ack}")
        return Reply("Firing now:\n\n" + "\n".join(lines), data={"open": len(open_alerts)})

    async def _ack(self, args: list[str], actor: Actor) -> Reply:
        if not args:
            return Reply("Which alert? Write **ack** followed by the alert id shown on its card "
                         "(the first characters are enough).")
        matches = await self._actions.alerts.find(args[0].lower())
        if len(matches) != 1:
            return Reply(f"No alert matches `{args[0]}`." if not matches else
                         f"`{args[0]}` matches {len(matches)} alerts; use more characters.")
        alert = await self._actions.acknowledge(matches[0].alert_id, actor)
        assert alert is not None
        return Reply(f"Acknowledged `{alert.alert_id[:8]}`. Reminders stop until it changes.")

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
            return Reply(HELP)
        text, count = await self._operating.rules_here(list(self._rules.values()), actor)
        return Reply(text, data={"rules": count})

    async def _test(self, args: list[str], actor: Actor) -> Reply:
        if self._operating is None:
            return Reply(HELP)
        return Reply(await self._operating.test(actor))

    async def _mute(self, args: list[str], actor: Actor) -> Reply:
        try:
            seconds = parse_duration(args[0]) if args else 0.0
        except ValueError:
            seconds = 0.0
        if seconds <= 0:
            return Reply("For how long? For example **mute 30m** or **mute 2h**.")
        until = await self._actions.mute(actor, seconds)
        return Reply(f"Muted here until {when(until)}. **unmute** ends it sooner.")

    async def _unmute(self, args: list[str], actor: Actor) -> Reply:
        await self._actions.unmute(actor)
        return Reply(f"Alerts are back on here ({when(utcnow())}).")
