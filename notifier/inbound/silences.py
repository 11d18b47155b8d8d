"""Silences from a card: *Silence 1 h / 24 h* on an Alertmanager incident creates a silence in
that Alertmanager (API v2 `POST /api/v2/silences`), *Expire silence* expires it
(`DELETE /api/v2/silence/{id}`). Matchers are the labels the incident's firing alerts share
(all of an alert's labels when it is alone); `createdBy` is the Teams user's name; the comment
names the incident. The Alertmanager is `ALERTMANAGER_URL`, else the notification's
`externalURL`; its credentials come from `ALERTMANAGER_API_TOKEN` (bearer) or
`ALERTMANAGER_API_USER`/`_PASSWORD` (basic). A failure is said on the card and in one log line.

A silence made or expired is an audit entry (`silenced`, `silence expired`: who, when, until
when, the silence's id), written with the silence and the card updates in one
transaction, so `history <alert>` shows it; a failed attempt changes nothing and is not one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict

import aiohttp

from common.clock import utcnow
from common.errors import HeatWatchError
from common.logs import redacted_url
from common.settings import InboundSettings
from notifier.alerts.incidents import Member
from notifier.alerts.record import AlertRecord
from notifier.alerts.store import AlertStore
from storage.audit import SYSTEM, AuditEntry, AuditLog, log_entry
from storage.backend import SqlBackend, Statement
from storage.inbound import InboundStore, Silence
from storage.outbox import NewDelivery, Operation, Outbox

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0


class SilenceError(HeatWatchError):
    """What went wrong, in words for the card."""


class MatcherJson(TypedDict):
    name: str
    value: str
    isRegex: bool
    isEqual: bool


class PostableSilenceJson(TypedDict):
    """The body of `POST /api/v2/silences` (Alertmanager's OpenAPI spec, api/v2/openapi.yaml:
    postableSilence, without an `id`: a new silence)."""

    matchers: list[MatcherJson]
    startsAt: str  # ISO 8601
    endsAt: str
    createdBy: str
    comment: str


@dataclass(frozen=True)
class Outcome:
    alert: AlertRecord | None  # None: the alert is not known
    silence: Silence | None  # the silence in force after the action
    problem: str = ""  # what went wrong, for the card


class AlertmanagerApi:
    """The two calls of Alertmanager's API v2 that silences need."""

    def __init__(self, settings: InboundSettings) -> None:
        self._settings = settings

    def _auth(self) -> tuple[dict[str, str], aiohttp.BasicAuth | None]:
        if self._settings.alertmanager_token:
            return {"Authorization": f"Bearer {self._settings.alertmanager_token}"}, None
        if self._settings.alertmanager_user:
            return {}, aiohttp.BasicAuth(self._settings.alertmanager_user,
                                         self._settings.alertmanager_password)
        return {}, None

    async def _call(self, method: str, url: str,
                    body: PostableSilenceJson | None = None) -> Any:
        headers, auth = self._auth()
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, session.request(
                    method, url, json=body, headers=headers, auth=auth) as response:
                text = await response.text()
                if response.status >= 400:
                    raise SilenceError(f"Alertmanager answered {response.status}: "
                                       f"{text.strip()[:200] or response.reason}")
                return await response.json(content_type=None) if text.strip() else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise SilenceError(f"Alertmanager at {redacted_url(url)} cannot be reached "
                               f"({error.__class__.__name__}: {error})".replace(": )", ")")
                               ) from None

    async def create(self, base: str, matchers: dict[str, str], until: datetime,
                     created_by: str, comment: str) -> str:
        body: PostableSilenceJson = {
            "matchers": [{"name": name, "value": value, "isRegex": False, "isEqual": True}
                         for name, value in sorted(matchers.items())],
            "startsAt": utcnow().isoformat(), "endsAt": until.isoformat(),
            "createdBy": created_by, "comment": comment}
        answer = await self._call("POST", f"{base}/api/v2/silences", body)
        silence_id = answer.get("silenceID") if isinstance(answer, dict) else None
        if not isinstance(silence_id, str) or not silence_id:
            raise SilenceError("Alertmanager did not say which silence it made")
        return silence_id

    async def expire(self, base: str, silence_id: str) -> None:
        await self._call("DELETE", f"{base}/api/v2/silence/{silence_id}")


def matchers_for(members: dict[str, Member]) -> dict[str, str]:
    """The labels every firing alert of the incident has (all alerts when none fires)."""
    firing = [m.tags for m in members.values() if m.severity is not None] or [
        m.tags for m in members.values()]
    if not firing:
        return {}
    common = dict(firing[0])
    for labels in firing[1:]:
        common = {k: v for k, v in common.items() if labels.get(k) == v}
    return common


class Silences:
    """The action behind the card's silence buttons (for any chat surface)."""

    def __init__(self, db: SqlBackend, settings: InboundSettings,
                 wake: asyncio.Event | None = None, api: AlertmanagerApi | None = None) -> None:
        self._alerts = AlertStore(db)
        self._store = InboundStore(db)
        self._outbox = Outbox(db)
        self._settings = settings
        self._wake = wake
        self._api = api or AlertmanagerApi(settings)

    async def current(self, alert_id: str) -> Silence | None:
        return await self._store.silence(alert_id, utcnow())

    def _base(self, alert: AlertRecord) -> str:
        base = self._settings.alertmanager_url or str(
            alert.incident.links.get("alertmanager") or "")
        if not base:
            raise SilenceError("No Alertmanager URL: the notification had no externalURL; "
                               "set ALERTMANAGER_URL.")
        return base.rstrip("/")

    async def _commit(self, alert_id: str, change: Statement, entry: AuditEntry) -> None:
        """The silence's change, its audit entry and the updates of every card of the alert
        in one transaction; then the audit log line."""
        keys = await self._alerts.cards_of(alert_id)
        await self._outbox.enqueue(
            [NewDelivery("silence-" + entry.id, alert_id, tenant, conversation,
                         Operation.CARD) for tenant, conversation in keys], entry.at,
            extra=[change, AuditLog.statement(entry)])
        log_entry(entry)
        if self._wake is not None:
            self._wake.set()

    async def silence(self, alert_id: str, hours: float, by_name: str) -> Outcome:
        alert = await self._alerts.get(alert_id)
        if alert is None:
            return Outcome(None, None)
        try:
            if not alert.incident.silenceable:
                raise SilenceError("Only alerts from Alertmanager can be silenced here.")
            base = self._base(alert)
            matchers = matchers_for(await self._alerts.incident_series(alert_id))
            if not matchers:
                raise SilenceError("The alert has no labels to silence it by.")
            until = utcnow() + timedelta(hours=hours)
            silence_id = await self._api.create(
                base, matchers, until, by_name or "HeatWatch",
                f"From HeatWatch (Microsoft Teams), incident {alert_id[:8]}: "
                f"{alert.rule} ({alert_id})")
        except SilenceError as error:
            log.warning("Silencing alert %s for %s failed: %s", alert_id[:8], by_name, error)
            return Outcome(alert, await self.current(alert_id), str(error))
        silence = Silence(alert_id, silence_id, base, until, by_name or None)
        log.info("Alert %s silenced in Alertmanager by %s until %s (silence %s, %s)",
                 alert_id[:8], by_name, until.isoformat(), silence_id,
                 ", ".join(f"{k}={v}" for k, v in sorted(matchers.items())))
        # The matchers are the alert's labels (a sender's text): in the log and in
        # Alertmanager, not in the chat's history.
        await self._commit(alert_id, self._store.save_silence_statement(silence), AuditEntry(
            action="silenced", at=utcnow(), actor=by_name or SYSTEM, alert_id=alert_id,
            detail=f"in Alertmanager until {until.strftime('%Y-%m-%d %H:%M:%S UTC')} "
                   f"(silence {silence_id})"))
        return Outcome(alert, silence)

    async def expire(self, alert_id: str, by_name: str) -> Outcome:
        alert = await self._alerts.get(alert_id)
        if alert is None:
            return Outcome(None, None)
        silence = await self._store.silence(alert_id)
        if silence is None:
            return Outcome(alert, None, "There is no silence to expire.")
        try:
            await self._api.expire(silence.url, silence.silence_id)
        except SilenceError as error:
            log.warning("Expiring silence %s of alert %s for %s failed: %s", silence.silence_id,
                        alert_id[:8], by_name, error)
            return Outcome(alert, await self.current(alert_id), str(error))
        await self._commit(alert_id, self._store.forget_silence_statement(alert_id), AuditEntry(
            action="silence expired", at=utcnow(), actor=by_name or SYSTEM, alert_id=alert_id,
            detail=f"silence {silence.silence_id}, made by {silence.created_by or SYSTEM}"))
        return Outcome(alert, None)
