"""What delivery needs from a chat platform: post and update messages in a stored conversation.

Activities and references are Bot Framework JSON (plain dicts). The botbuilder implementation
is `bots.sender.BotFrameworkSender`; a move to the Teams SDK replaces only that.
"""

from __future__ import annotations

from typing import Any, Protocol

from common.errors import HeatWatchError


class DeliveryError(HeatWatchError):
    """The connector refused or failed a send. `status` 0 means no HTTP answer (timeout,
    connection error); `code` is the Bot Framework error code (e.g. ConversationNotFound)."""

    def __init__(self, status: int, code: str = "", message: str = "",
                 retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status} {code}: {message}".strip() if status else
                         f"no answer: {message}")
        self.status = status
        self.code = code
        self.retry_after = retry_after


class MessageSender(Protocol):
    async def post(self, reference: dict[str, Any], activity: dict[str, Any]) -> str:
        """Send a new message; returns its activity id."""
        ...

    async def update(self, reference: dict[str, Any], activity_id: str,
                     activity: dict[str, Any]) -> None:
        """Replace a message the bot sent earlier."""
        ...
