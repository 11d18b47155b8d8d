"""Keep "these people get alerts" true: install HeatWatch for every configured recipient at
start-up and then on an interval, and again when a send finds the bot uninstalled.

Each recipient is independent: one failing (unknown user, throttling, missing permission) is
logged once per distinct problem and retried, and never holds up the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from common.retry import Backoff, run_forever
from notifier.install.graph import GraphError, GraphInstaller
from storage.registry import ConversationRegistry

log = logging.getLogger(__name__)


class Reconciler:
    def __init__(self, installer: GraphInstaller, registry: ConversationRegistry,
                 recipients: Callable[[], tuple[str, ...]], interval: float) -> None:
        """`recipients` is asked on every pass: ALERT_RECIPIENTS and the people of the on-call
        schedules in force (a rules reload can add people)."""
        self._installer = installer
        self._registry = registry
        self._recipients = recipients
        self._interval = interval
        self._problems: dict[str, str] = {}
        self._user_ids: dict[str, str] = {}  # recipient as configured -> AAD object id

    async def reconcile_once(self) -> float:
        """One pass; returns how long to wait before the next (shorter after failures)."""
        wait = self._interval
        for recipient in self._recipients():
            if not await self._ensure(recipient):
                wait = min(wait, 60.0)
        return wait

    async def _ensure(self, recipient: str) -> bool:
        try:
            result = await self._installer.ensure(recipient)
        except GraphError as error:
            if self._problems.get(recipient) != str(error):
                log.error("Could not set up alerts for %s: %s", recipient, error)
            self._problems[recipient] = str(error)
            return False
        if self._problems.pop(recipient, None) is not None or result.installed_now or (
                result.reference_stored):
            log.info("Alerts for %s", result.describe())
        self._user_ids[recipient] = result.user_id
        return True

    async def run(self) -> None:
        await run_forever(self.reconcile_once, what="Reconciling alert recipients", log=log,
                          backoff=Backoff(60.0, self._interval))

    async def reinstall(self, tenant_id: str, conversation_id: str) -> bool:
        """Delivery's hook for a conversation the bot turned out not to be in any more:
        re-install for a configured recipient and say whether to retry the send."""
        conversation = await self._registry.get_conversation(tenant_id, conversation_id)
        user = conversation.user_aad_object_id if conversation else None
        if not user:
            return False
        for recipient in self._recipients():
            if user.lower() in (recipient.lower(), self._user_ids.get(recipient, "").lower()):
                log.info("Bot was uninstalled for %s; installing it again", recipient)
                return await self._ensure(recipient)
        return False
