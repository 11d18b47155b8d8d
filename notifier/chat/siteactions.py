"""Acknowledge, snooze and their undos on a site card (issue #27): each applies to every room
the card shows in that conversation (the rooms it was told of), each room through the ordinary
action (its own audit entry, its own room cards updated), and then to the site event itself,
so its card says who did it. Escalation stops for each acknowledged room as for any incident;
a room that joins later is not acknowledged (it is a new trouble: it may page).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from common.clock import utcnow
from common.literal import shown
from common.times import at
from notifier.alerts.record import AlertRecord
from notifier.alerts.sites import Site
from notifier.delivery.cards import VALUE_LIMIT
from notifier.delivery.sitecard import site_words
from storage.backend import Statement
from storage.sites import SiteStore

if TYPE_CHECKING:
    from notifier.chat.actions import Actor, AlertActions, Outcome

_DONE = {"acknowledge": "Acknowledged", "unacknowledge": "Took back the acknowledgement of",
         "snooze": "Snoozed here", "unsnooze": "Ended the snooze here of"}


async def act_on_site(actions: AlertActions, alert: AlertRecord, actor: Actor, verb: str,
                      seconds: float = 0.0) -> Outcome:
    """`verb` ("acknowledge", "unacknowledge", "snooze", "unsnooze") on a site event."""
    from notifier.chat.actions import Outcome

    where = (actor.tenant_id, actor.conversation_id)
    site = Site.from_record(alert.alert_id, alert.incident,
                            await actions.alerts.series_rows(alert.alert_id))
    rooms = [r for r in site.shown(await SiteStore(actions.alerts.backend).rooms_told_here(
        alert.alert_id, where)) if r.open]
    ref = f"the site event `{alert.alert_id[:8]}` at {site_words(site)}"
    if not site.open or not rooms:
        return Outcome(alert, False, f"{ref[0].upper()}{ref[1:]} has ended; nothing to "
                                     f"{verb}.")
    room_action: Callable[[str], Awaitable[Outcome]] = {
        "acknowledge": lambda room: actions.acknowledge(room, actor),
        "unacknowledge": lambda room: actions.unacknowledge(room, actor),
        "snooze": lambda room: actions.snooze(room, seconds, actor),
        "unsnooze": lambda room: actions.unsnooze(room, actor),
    }[verb]
    changed = [room for room in rooms if (await room_action(room.alert_id)).changed]
    store = actions.alerts
    if not changed:  # nothing to record (a second press of a card not yet updated)
        return Outcome(await store.get(alert.alert_id), False,
                       f"Nothing changed for {ref}: its {len(rooms)} rooms were already so.")
    now = utcnow()
    statement: Statement | None = None
    keys = await store.cards_of(alert.alert_id)
    if verb == "acknowledge":
        statement = store.acknowledge_statement(alert.alert_id, actor.name, now)
    elif verb == "unacknowledge":
        statement = store.unacknowledge_statement(alert.alert_id)
    elif verb == "snooze":
        statement = store.snooze_statement(*where, alert.rule, alert.incident.series_key,
                                           now + timedelta(seconds=seconds), actor.name,
                                           site.severity)
        keys = [where]
    else:
        statement = store.unsnooze_statement(*where, alert.rule,
                                             alert.incident.series_key, now)
        keys = [where]
    detail = f"{len(changed)} of {len(rooms)} rooms" + (
        f", until {at(now + timedelta(seconds=seconds), None)}" if verb == "snooze" else "")
    entry = actions._entry(
        {"acknowledge": "acknowledged", "unacknowledge": "unacknowledged",
         "snooze": "snoozed", "unsnooze": "unsnoozed"}[verb], actor, alert.alert_id, detail)
    await actions._commit(entry, alert.alert_id, keys, [statement])
    names = ", ".join(shown(r.label, VALUE_LIMIT) for r in changed[:5]) + (
        f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    until = (f" until {at(now + timedelta(seconds=seconds), actor.time_zone)}"
             if verb == "snooze" else "")
    return Outcome(await store.get(alert.alert_id), True,
                   f"{_DONE[verb]} {ref}{until}: {len(changed)} of its {len(rooms)} rooms "
                   f"({names}).")
