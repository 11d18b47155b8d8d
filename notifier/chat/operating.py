"""Chat commands for operating HeatWatch: `rules` (the rules that alert this conversation, with
their thresholds) and `test` (a test card to this conversation, through the outbox)."""

from __future__ import annotations

import asyncio

from common.clock import utcnow
from notifier.alerts.events import INFLUXDB, AlertEvent, EventKind
from notifier.alerts.routing import Routing
from notifier.chat.actions import Actor
from notifier.delivery.planner import OutboxSink
from notifier.delivery.testalert import send_test_card
from notifier.monitoring.rules import Rule
from storage.backend import SqlBackend
from storage.models import Conversation


def thresholds(rule: Rule) -> str:
    """ "warning ≥ 27 °C, critical ≥ 32 °C, held 30s" """
    parts = []
    for label, above, below in (("warning", rule.warn_above, rule.warn_below),
                                ("critical", rule.crit_above, rule.crit_below)):
        if above is not None:
            parts.append(f"{label} ≥ {above:g} {rule.unit}")
        if below is not None:
            parts.append(f"{label} ≤ {below:g} {rule.unit}")
    if rule.pending:
        parts.append(f"held {rule.pending:g}s")
    return ", ".join(parts)


def preview_event(rule: str) -> AlertEvent:
    """An event as the rule would publish it, to ask the planner who would be told (rule ""
    is the data source's own alert, `source-down`)."""
    return AlertEvent(kind=EventKind.FIRED if rule else EventKind.SOURCE_DOWN, rule=rule,
                      alert_id="preview", at=utcnow(), source=INFLUXDB)


async def who_would_be_told(db: SqlBackend, routing: Routing,
                            rules: list[Rule]) -> list[tuple[Rule | None, list[Conversation]]]:
    """Per rule (None: the data source's own alerts), the conversations an alert would reach
    now, by the delivery planner's own audience logic."""
    planner = OutboxSink(db, routing)
    now = utcnow()
    recipients = await planner.recipients(now)
    by_key = {(c.tenant_id, c.conversation_id): c for c in recipients.conversations}
    found: list[tuple[Rule | None, list[Conversation]]] = []
    for rule in [*rules, None]:
        keys = await planner.audience(preview_event(rule.name if rule else ""), now, recipients)
        found.append((rule, [by_key[key] for key in sorted(keys) if key in by_key]))
    return found


class OperatingCommands:
    def __init__(self, db: SqlBackend, routing: Routing,
                 wake: asyncio.Event | None = None) -> None:
        self._db = db
        self._planner = OutboxSink(db, routing)  # only asked who would be told
        self._wake = wake

    async def rules_here(self, rules: list[Rule], actor: Actor) -> tuple[str, int]:
        now = utcnow()
        recipients = await self._planner.recipients(now)
        here = (actor.tenant_id, actor.conversation_id)
        lines, other = [], []
        for rule in rules:
            if here in await self._planner.audience(preview_event(rule.name), now, recipients):
                where = ", ".join(f"{k}={v}" for k, v in sorted(rule.where.items()))
                lines.append(f"- **{rule.name}**: {rule.watches}"
                             f"{f' ({where})' if where else ''}: {thresholds(rule)}"
                             f"{f' — {rule.description}' if rule.description else ''}")
            else:
                other.append(f"`{rule.name}`")
        if lines:
            text = "Rules that alert this conversation:\n\n" + "\n".join(lines)
        else:
            text = "No rule alerts this conversation now (muted, unsubscribed, or not a target)."
        if other:
            text += ("\n\nNot here: " + ", ".join(other)
                     + ". **subscribe** *rule* brings one here.")
        return text, len(lines)

    async def reaching(self, rules: list[Rule], actor: Actor) -> set[str]:
        """The names of the rules whose alerts reach the actor's conversation now."""
        now = utcnow()
        recipients = await self._planner.recipients(now)
        here = (actor.tenant_id, actor.conversation_id)
        return {rule.name for rule in rules if here in await self._planner.audience(
            preview_event(rule.name), now, recipients)}

    async def test(self, actor: Actor) -> str:
        _, audience = await send_test_card(
            self._db, actor.name or "someone in this chat",
            (f"conversation:{actor.conversation_id}",), self._wake)
        if (actor.tenant_id, actor.conversation_id) not in audience:
            return ("This conversation would not get alerts now (muted, unsubscribed, or not "
                    "active), so no test card was sent. **unmute** or **subscribe** first.")
        return ("A test card is on its way here, through the outbox like a real alert. If it "
                "does not arrive, `python -m heatwatch deliveries --status all` shows why.")

