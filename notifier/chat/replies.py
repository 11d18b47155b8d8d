"""Answers to chat commands that could not be sent during their turn go through the outbox.

The person's action is already committed when its reply fails (the connector is down, throttles,
or the bot's own token cannot be had); Teams is answered 2xx, and the reply is queued as a
durable delivery to the same conversation (and channel thread), sent by the delivery workers
with their limits and retries.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging

from common.clock import utcnow
from common.wire import ActivityJson
from storage.backend import SqlBackend
from storage.outbox import NewDelivery, Operation, Outbox

log = logging.getLogger(__name__)


class ReplyQueue:
    def __init__(self, db: SqlBackend, wake: asyncio.Event | None = None) -> None:
        self._outbox = Outbox(db)
        self._wake = wake

    async def queue(self, tenant_id: str, conversation_id: str, thread_id: str,
                    activity: ActivityJson, answering: str, reason: str) -> None:
        """Queue `activity` (a message as JSON) for `conversation_id`, posted into `thread_id`
        (the conversation id Teams used, with a channel thread's `;messageid=`); `answering`
        is the id of the activity it answers. Each call queues one delivery (a turn may
        answer with several messages); a re-sent activity never gets here twice, since
        handled activities are not applied again (`storage.activities`)."""
        now = utcnow()
        event_id = "reply-" + hashlib.sha256(
            f"{tenant_id}|{thread_id}|{answering}|{now.isoformat()}".encode()).hexdigest()[:16]
        payload = json.dumps({"activity": activity, "thread": thread_id}, sort_keys=True)
        await self._outbox.enqueue(
            [NewDelivery(event_id, "", tenant_id, conversation_id, Operation.REPLY, payload)],
            now)
        log.warning("Reply in %s could not be sent now (%s); queued for delivery",
                    conversation_id, reason)
        if self._wake is not None:
            self._wake.set()
