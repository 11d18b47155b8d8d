"""What delivery needs from a chat platform: post and update messages in a stored conversation,
and failures sorted into the kinds delivery acts on.

Activities and references are Bot Framework JSON (their shapes typed in `common.wire`). The
botbuilder implementation is `bots.sender.BotFrameworkSender`, which also turns the platform's
error codes into a `FailureKind`; a move to the Teams SDK replaces only that.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from common.errors import HeatWatchError
from common.retry import Backoff
from common.wire import ActivityJson, ConversationReferenceJson


class FailureKind(StrEnum):
    """How a failed send should be handled; the platform adapter decides which applies."""

    RETRY = "retry"  # transient (5xx, timeout, no answer): back off and try again
    THROTTLED = "throttled"  # rate limited: wait at least `retry_after`, then again
    MESSAGE_GONE = "message-gone"  # the message to update was deleted: post a new one
    NOT_INSTALLED = "not-installed"  # the app is no longer in the conversation
    BLOCKED = "blocked"  # the person blocked the bot
    GONE = "gone"  # the conversation no longer exists
    TENANT_DISABLED = "tenant-disabled"  # an admin disabled the app for the whole tenant
    REFUSED = "refused"  # refused for good (any other client error)


class DeliveryError(HeatWatchError):
    """A send failed. `kind` says what to do about it; the message says what happened."""

    def __init__(self, kind: FailureKind, message: str,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


TRANSIENT = frozenset({FailureKind.RETRY, FailureKind.THROTTLED})


def retry_delay(error: DeliveryError, attempt: int, backoff: Backoff) -> float:
    """The one retry policy for sends: a throttled send waits at least what the platform
    asked for; any other transient failure backs off exponentially with jitter."""
    if error.kind is FailureKind.THROTTLED:
        return max(error.retry_after or 1.0, backoff.delay(attempt) / 4)
    return backoff.delay(attempt)


class MessageSender(Protocol):
    async def post(self, reference: ConversationReferenceJson, activity: ActivityJson) -> str:
        """Send a new message; returns its activity id."""
        ...

    async def update(self, reference: ConversationReferenceJson, activity_id: str,
                     activity: ActivityJson) -> None:
        """Replace a message the bot sent earlier."""
        ...
