"""Who may see and act on an incident from chat: routing decides who is told, and this decides
who may look and act, so an id seen in a screenshot opens nothing.

A conversation sees and acts on the incidents it was told of: its audience, the conversations
with a delivery or a card of it (`AlertStore.audience`: rule targets, routes, subscriptions,
escalation and `test` all tell through deliveries). A conversation muted or snoozed when an
incident opened was not told of it and does not see it. Operators see and act on every
incident: the people whose AAD object id is in `OPERATORS` (in any conversation where they
write or press), and every channel of a team whose id is there. Anything else is answered as an
unknown id would be ("not found here"), never a hint that the incident exists; each refusal of
a named incident is one INFO log line. The same rule holds for chat commands (alerts, status,
history, history/ack/unack/snooze/unsnooze <id>), card buttons and reactions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from common.literal import shown
from notifier.alerts.store import AlertStore
from notifier.delivery.charts import ChartMaker
from notifier.delivery.paging import PagingReader
from notifier.delivery.view import IncidentView
from storage.alerts import Key

if TYPE_CHECKING:
    from notifier.chat.actions import Actor

log = logging.getLogger(__name__)

TEAM_ID_PREFIX = "19:"  # Teams thread ids (a team's id is its General channel's) start so


def not_found_here(ref: str) -> str:
    """The answer for an alert id unknown here: unknown, or not told to this conversation."""
    return f"No alert `{shown(ref, 16)}` found here."


@dataclass(frozen=True)
class Operators:
    """`OPERATORS`: AAD object ids of people (compared without case) and team ids."""

    people: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()

    @classmethod
    def of(cls, entries: Iterable[str]) -> Operators:
        entries = [entry.strip() for entry in entries if entry.strip()]
        return cls(frozenset(e.lower() for e in entries if not e.startswith(TEAM_ID_PREFIX)),
                   frozenset(e for e in entries if e.startswith(TEAM_ID_PREFIX)))

    def include(self, actor: Actor) -> bool:
        return (bool(actor.aad_object_id) and actor.aad_object_id.lower() in self.people) or (
            bool(actor.team_id) and actor.team_id in self.teams)


class Access:
    def __init__(self, alerts: AlertStore, operators: Operators | None = None,
                 paging: PagingReader | None = None) -> None:
        self._alerts = alerts
        self.operators = operators or Operators()
        self.paging = paging  # who is on call and who was paged, for the cards it answers with

    def told(self, actor: Actor) -> Key | None:
        """What a listing is limited to: the conversation's audience, or None (everything)
        for an operator."""
        if self.operators.include(actor):
            return None
        return actor.tenant_id, actor.conversation_id

    async def view(self, alert_id: str, actor: Actor, charts: ChartMaker | None = None,
                   what: str = "") -> IncidentView | None:
        """The incident as the actor's conversation sees it, if it may; else None (and, for
        an incident that exists, one INFO line)."""
        view = await IncidentView.for_conversation(
            self._alerts, alert_id, (actor.tenant_id, actor.conversation_id), charts=charts,
            paging=self.paging)
        if view is None or view.told or self.operators.include(actor):
            return view
        self.refused(actor, alert_id, what)
        return None

    @staticmethod
    def refused(actor: Actor, alert_id: str, what: str = "") -> None:
        log.info("Refused %s of alert %s to %s in %s (tenant %s): not told there, not an "
                 "operator", what or "access", alert_id[:8], actor.aad_object_id or actor.name,
                 actor.conversation_id, actor.tenant_id or "-")
