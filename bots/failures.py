"""Bot Connector answers sorted into the failure kinds the delivery pipeline acts on.

This is the only place that knows the connector's error codes:
  429                                        THROTTLED (Retry-After)
  412, 500, 502, 503, 504, 401, no answer    RETRY
  403 BotNotInConversationRoster,
      ForbiddenOperationException            NOT_INSTALLED
  403 ConversationBlockedByUser              BLOCKED
  403 BotDisabledByAdmin                     TENANT_DISABLED
  404 ConversationNotFound (or no code)      GONE; on an update, any other 404 is MESSAGE_GONE
  an answer that is no Bot Framework answer
      (a gateway's HTML error page)          RETRY
  any other                                  REFUSED
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from email.utils import parsedate_to_datetime

import aiohttp
from botbuilder.schema import ErrorResponseException
from msrest.exceptions import ClientRequestError, DeserializationError, HttpOperationError

from common.clock import utcnow
from common.tokens import TokenError
from notifier.delivery.sending import DeliveryError, FailureKind

RETRYABLE_STATUSES = {401, 412, 500, 502, 503, 504}
NOT_INSTALLED_CODES = {"BotNotInConversationRoster", "ForbiddenOperationException"}


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - (now or utcnow())).total_seconds())
    except (TypeError, ValueError):
        return None


def classify(status: int, code: str = "", message: str = "", retry_after: float | None = None,
             *, updating: bool = False) -> DeliveryError:
    """The kind of a connector answer (`status` 0: no answer at all)."""
    text = f"HTTP {status} {code}: {message}".strip().rstrip(":") if status else (
        f"no answer: {message}")
    if status == 429:
        kind = FailureKind.THROTTLED
    elif status == 0 or status in RETRYABLE_STATUSES:
        kind = FailureKind.RETRY
    elif status == 403 and code in NOT_INSTALLED_CODES:
        kind = FailureKind.NOT_INSTALLED
    elif status == 403 and code == "ConversationBlockedByUser":
        kind = FailureKind.BLOCKED
    elif status == 403 and code == "BotDisabledByAdmin":
        kind = FailureKind.TENANT_DISABLED
    elif status == 404 and updating and code != "ConversationNotFound":
        kind = FailureKind.MESSAGE_GONE
    elif status == 404 and code in ("ConversationNotFound", ""):
        kind = FailureKind.GONE
    else:
        kind = FailureKind.REFUSED
    return DeliveryError(kind, text, retry_after)


def classify_response_error(error: ErrorResponseException, *,
                            updating: bool = False) -> DeliveryError:
    """A botbuilder connector exception as a `DeliveryError`."""
    response = error.response
    status = int(getattr(response, "status", None) or getattr(response, "status_code", 0) or 0)
    headers = getattr(response, "headers", None) or {}
    code = message = ""
    if error.error is not None and getattr(error.error, "error", None) is not None:
        code = error.error.error.code or ""
        message = error.error.error.message or ""
    return classify(status, code, message, retry_after_seconds(headers.get("Retry-After")),
                    updating=updating)


def failure_of(error: BaseException, *, updating: bool = False) -> DeliveryError | None:
    """Any exception of a connector call as a `DeliveryError`: the connector's answer, no
    token for the bot, or no answer at all. None for an exception that is not about the
    connector (a bug)."""
    if isinstance(error, DeliveryError):
        return error
    if isinstance(error, ErrorResponseException):
        return classify_response_error(error, updating=updating)
    if isinstance(error, HttpOperationError):
        response = error.response
        status = int(getattr(response, "status", None) or getattr(response, "status_code", 0)
                     or 0)
        return classify(status, message=str(error), updating=updating) if status else \
            DeliveryError(FailureKind.RETRY, f"unreadable answer: {error}")
    if isinstance(error, DeserializationError):  # msrest could not read the answer's body
        return DeliveryError(FailureKind.RETRY, f"unreadable answer: {error}")
    if isinstance(error, TokenError):
        return classify(0, message=f"no token: {error}")
    if isinstance(error, ClientRequestError | aiohttp.ClientError | asyncio.TimeoutError
                  | OSError):
        return classify(0, message=f"connection failed ({error.__class__.__name__})")
    return None
