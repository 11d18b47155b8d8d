"""The sending adapter: `MessageSender` over botbuilder's `CloudAdapter.continue_conversation`.

Connector errors become `DeliveryError(status, code, retry_after)` so delivery logic never sees
a botbuilder type.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ConversationReference, ErrorResponseException
from msrest.exceptions import ClientRequestError

from common.clock import utcnow
from common.tokens import TokenError
from notifier.delivery.sending import DeliveryError

log = logging.getLogger(__name__)


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
    except (TypeError, ValueError):
        return None


def delivery_error(error: ErrorResponseException) -> DeliveryError:
    response = error.response
    status = int(getattr(response, "status", None) or getattr(response, "status_code", 0) or 0)
    headers = getattr(response, "headers", None) or {}
    code = message = ""
    if error.error is not None and getattr(error.error, "error", None) is not None:
        code = error.error.error.code or ""
        message = error.error.error.message or ""
    return DeliveryError(status, code, message, retry_after_seconds(headers.get("Retry-After")))


class BotFrameworkSender:
    def __init__(self, adapter: CloudAdapter, app_id: str) -> None:
        self._adapter = adapter
        self._app_id = app_id

    async def post(self, reference: dict[str, Any], activity: dict[str, Any]) -> str:
        sent: list[str] = []

        async def send(turn_context: TurnContext) -> None:
            response = await turn_context.send_activity(Activity().deserialize(activity))
            sent.append(response.id if response and response.id else "")

        await self._continue(reference, send)
        return sent[0] if sent else ""

    async def update(self, reference: dict[str, Any], activity_id: str,
                     activity: dict[str, Any]) -> None:
        async def update(turn_context: TurnContext) -> None:
            replacement = Activity().deserialize(activity)
            replacement.id = activity_id
            await turn_context.update_activity(replacement)

        await self._continue(reference, update)

    async def _continue(self, reference: dict[str, Any],
                        callback: Callable[[TurnContext], Awaitable[None]]) -> None:
        try:
            await self._adapter.continue_conversation(
                ConversationReference().deserialize(reference), callback, self._app_id)
        except ErrorResponseException as error:
            raise delivery_error(error) from None
        except TokenError as error:
            raise DeliveryError(0, "Token", str(error)) from None
        except (ClientRequestError, aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            raise DeliveryError(0, "Connection", error.__class__.__name__) from None
