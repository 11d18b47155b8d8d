"""Keep "these people get alerts" true: install HeatWatch for every configured recipient at
start-up and then on an interval, and again when a send finds the bot uninstalled.

The on-call schedules' people must be reachable before they are paged, not an hour later:
between the full passes, every `NEW_PEOPLE_SECONDS` the recipients no pass has installed yet
(a rules reload or a Teams Shifts read named someone new) are installed; and `reach` installs
a person a page is about to target who has no chat with the bot, at once (the planner and the
escalation call it before they choose whom to tell).

Each recipient is independent: one failing (unknown user, throttling, missing permission) is
logged once per distinct problem and retried, and never holds up the others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from common.retry import Backoff, run_forever
from notifier.install.graph import GraphError, GraphInstaller
from storage.registry import ConversationRegistry

log = logging.getLogger(__name__)

NEW_PEOPLE_SECONDS = 5.0  # how soon someone newly named by a schedule is installed (a set
# difference in memory; Graph is asked only about someone new)
FAILED_RETRY_SECONDS = 60.0  # a recipient that failed is tried again this soon


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
        self._next_pass = 0.0  # time.monotonic() of the next full pass
        self._reach_failed: dict[str, float] = {}  # person -> when `reach` last failed

    async def reconcile_once(self) -> float:
        """One pass; returns how long to wait before the next (shorter after failures)."""
        wait = self._interval
        for recipient in self._recipients():
            if not await self._ensure(recipient):
                wait = min(wait, FAILED_RETRY_SECONDS)
        return wait

    async def reconcile_new(self) -> int:
        """Install the recipients no pass has tried yet; how many were installed."""
        done = 0
        for recipient in self._recipients():
            if recipient not in self._user_ids and recipient not in self._problems:
                if await self._ensure(recipient):
                    done += 1
                else:
                    self._next_pass = min(self._next_pass,
                                          time.monotonic() + FAILED_RETRY_SECONDS)
        return done

    async def reach(self, people: Iterable[str]) -> None:
        """Install HeatWatch now for these people (AAD object ids a page is about to target,
        who have no chat with the bot), so that the page can be delivered; a failure is
        logged as for any recipient and the page goes to whoever is reachable."""
        for person in dict.fromkeys(people):
            failed = self._reach_failed.get(person)
            if failed is not None and time.monotonic() - failed < FAILED_RETRY_SECONDS:
                continue  # Graph said no a moment ago: the next pages do not wait on it again
            log.info("A page targets %s, who has no chat with HeatWatch: installing it now",
                     person)
            if await self._ensure(person):
                self._reach_failed.pop(person, None)
            else:
                self._reach_failed[person] = time.monotonic()

    async def step(self) -> float:
        """One run of the loop: the full pass when it is due, else the new people; the
        seconds until the next run."""
        if time.monotonic() >= self._next_pass:
            wait = await self.reconcile_once()
            self._next_pass = time.monotonic() + wait
        else:
            await self.reconcile_new()
        return max(0.0, min(NEW_PEOPLE_SECONDS, self._next_pass - time.monotonic()))

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
        await run_forever(self.step, what="Reconciling alert recipients", log=log,
                          backoff=Backoff(FAILED_RETRY_SECONDS, self._interval))

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
