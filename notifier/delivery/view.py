"""An incident's card as one conversation sees it.

`IncidentView` holds everything that card shows there: the alert, its snooze in that
conversation, its Alertmanager silence, the conversation's mute, the trend chart, what its
source can do (silenceable), whether the conversation was told of it (who may see it:
notifier/chat/access.py), and who is on call for it and who was paged (`paging.py`).
`IncidentView.for_conversation` reads it in one storage query (the alert with its silence, the
mute, the audience, its card's message and its snooze there, by the incident's group key; an
alert recorded before incidents needs a second for its snooze) plus the chart (the chart
maker's cached read of the source) and, for an incident with on-call targets or an escalation
policy, its audit entries (`PagingReader`). The delivery worker, the answer to a
card button and the answer to *Silence* all render through `IncidentView.card`,
so what a person sees after pressing a button is what the worker sends there next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from common.clock import utcnow
from common.wire import ActivityJson
from notifier.alerts.record import AlertRecord
from notifier.alerts.sites import Site, is_site
from notifier.alerts.store import AlertStore
from notifier.delivery.budget import CardJson
from notifier.delivery.cards import alert_card, card_activity, summary, with_notice
from notifier.delivery.charts import ChartMaker
from notifier.delivery.paging import Paging, PagingReader
from notifier.delivery.sitecard import site_card, site_summary
from storage.alerts import Key, Snooze
from storage.inbound import Silence
from storage.sites import SiteStore


@dataclass(frozen=True)
class IncidentView:
    alert: AlertRecord
    told: bool = True  # this conversation was told of the incident (is in its audience)
    snooze: Snooze | None = None  # its snooze in this conversation
    silence: Silence | None = None  # in force
    muted_until: datetime | None = None  # the conversation's mute (all alerts), if any
    chart: CardJson | None = None
    card_activity_id: str | None = None  # the card's message there, once posted (to update)
    paging: Paging | None = None  # who is on call for it, who was paged
    site: Site | None = None  # a site event's (its card lists its rooms)
    rooms: frozenset[str] = frozenset()  # the site's rooms this conversation was told of

    @property
    def silenceable(self) -> bool:
        return self.alert.incident.silenceable

    @classmethod
    async def for_conversation(cls, alerts: AlertStore, alert_id: str, where: Key, *,
                               charts: ChartMaker | None = None,
                               paging: PagingReader | None = None,
                               now: datetime | None = None) -> IncidentView | None:
        """The incident as the conversation `where` sees it; None when it is not known."""
        now = now or utcnow()
        here = await alerts.here(alert_id, where, now)
        if here is None:
            return None
        alert = here.alert
        if is_site(alert.incident):
            site = Site.from_record(alert.alert_id, alert.incident,
                                    await alerts.series_rows(alert.alert_id))
            rooms = await SiteStore(alerts.backend).rooms_told_here(alert.alert_id, where)
            return cls(alert, here.told, here.snooze, None, here.muted_until, None,
                       here.card_activity_id, site=site, rooms=frozenset(rooms))
        chart = await charts.chart(alert) if charts is not None else None
        return cls(alert, here.told, here.snooze,
                   here.silence if alert.incident.silenceable else None, here.muted_until, chart,
                   here.card_activity_id,
                   paging=await paging.of(alert, now) if paging is not None else None)

    def card(self, now: datetime | None = None, notice: str = "") -> CardJson:
        """The Adaptive Card; `notice` says what went wrong to the person who pressed."""
        card = (site_card(self.alert, self.site, set(self.rooms), self.snooze, now)
                if self.site is not None else alert_card(self, now))
        return with_notice(card, notice) if notice else card

    def activity(self, now: datetime | None = None) -> ActivityJson:
        """The message that carries the card (with its notification summary)."""
        return card_activity(self.card(now), site_summary(self.site) if self.site is not None
                             else summary(self.alert.incident))
