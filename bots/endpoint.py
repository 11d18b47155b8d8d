"""`POST /api/messages`: strict request checks, authentication, then the bot.

botbuilder's `CloudAdapter.process` turns a missing Content-Type, a bad token or a key lookup
failure into a 500 with a traceback. This endpoint answers each case itself: 415, 400 (not an
activity, or one without type, channelId, conversation.id or an absolute serviceUrl), 413,
401, 400/403 (a serviceUrl this bot does not talk to), 503 (keys or storage unreachable, retry
later), and never lets internals reach the caller. An activity Teams re-sends (same id in the
same conversation) after it was handled is answered 200 and not applied again.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

import jwt
import requests
from aiohttp import web
from botbuilder.core import InvokeResponse
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity
from botframework.connector.auth import AuthenticateRequestResult, BotFrameworkAuthentication
from msrest.serialization import Model

from bots.activity_checks import ServiceUrlPolicy, shape_problem
from bots.heatwatch_bot import HeatWatchBot
from bots.observed import ACTIVITY_TYPE, activity_type_label
from bots.references import conversation_id_of, tenant_of
from common.clock import utcnow
from common.errors import StorageError
from common.tokens import TokenError
from storage.activities import Claim, HandledActivities

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024


def _error(status: int, code: str, message: str, **headers: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers or None
    )


def _body_json(body: Any) -> Any:
    """Serialize an invoke response body: msrest models by their wire names, dicts as they are."""
    if isinstance(body, Model):
        return body.serialize()
    return body


async def _read_limited(request: web.Request) -> bytes | None:
    """The whole body, or None as soon as it passes MAX_BODY_BYTES (also for chunked bodies)."""
    parts: list[bytes] = []
    total = 0
    while chunk := await request.content.read(64 * 1024):
        total += len(chunk)
        if total > MAX_BODY_BYTES:
            return None
        parts.append(chunk)
    return b"".join(parts)


class MessagesEndpoint:
    def __init__(
        self,
        adapter: CloudAdapter,
        authentication: BotFrameworkAuthentication,
        bot: HeatWatchBot,
        policy: ServiceUrlPolicy,
        handled: HandledActivities | None = None,
    ) -> None:
        self._adapter = adapter
        self._auth = authentication
        self._bot = bot
        self._policy = policy
        self._anonymous = policy.anonymous
        self._handled = handled

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/json":
            return _error(415, "UnsupportedMediaType", "Content-Type must be application/json.")
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return _error(413, "PayloadTooLarge", f"The body is over {MAX_BODY_BYTES} bytes.")
        raw = await _read_limited(request)
        if raw is None:
            return _error(413, "PayloadTooLarge", f"The body is over {MAX_BODY_BYTES} bytes.")
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _error(400, "BadRequest", "The body is not valid JSON.")
        if not isinstance(body, dict):
            return _error(400, "BadRequest", "The body must be a JSON object (an activity).")
        request[ACTIVITY_TYPE] = activity_type_label(body.get("type")
                                                     if isinstance(body.get("type"), str)
                                                     else None)
        problem = shape_problem(body)
        if problem:
            log.info("Refused an activity: %s", problem)
            return _error(400, "BadRequest", problem)
        try:
            activity = Activity().deserialize(body)
        except Exception:  # msrest raises DeserializationError and plain TypeErrors
            return _error(400, "BadRequest", "The body is not a valid activity.")

        auth_result = await self._authenticate(request, activity)
        if isinstance(auth_result, web.Response):
            return auth_result
        refusal = self._policy.refusal(activity.service_url)
        if refusal:
            log.warning("Refused %s activity %s: serviceUrl %s (%s)", activity.type,
                        activity.id, activity.service_url, refusal)
            return _error(400 if self._anonymous else 403,
                          "BadRequest" if self._anonymous else "Forbidden", refusal)
        return await self._handle(activity, auth_result)

    async def _handle(self, activity: Activity,
                      auth_result: AuthenticateRequestResult) -> web.Response:
        """Run the turn once per activity id; a failed turn leaves the activity to Teams'
        re-send."""
        key = self._dedupe_key(activity)
        if key is not None and self._handled is not None:
            try:
                claim = await self._handled.claim(*key, utcnow())
            except StorageError as error:
                log.error("Storage unavailable while handling %s activity %s: %s",
                          activity.type, activity.id, error)
                return _error(503, "ServiceUnavailable", "Try again later.",
                              **{"Retry-After": "5"})
            if claim is not Claim.NEW:
                log.info("%s activity %s in %s was %s already; not applied again",
                         activity.type, activity.id, key[1],
                         "handled" if claim is Claim.DONE else "being handled")
                return web.Response(status=HTTPStatus.OK)
        try:
            invoke = await self._adapter.process_activity(auth_result, activity, self._bot.on_turn)
        except (StorageError, TokenError) as error:
            await self._release(key)
            log.error("%s while handling %s activity %s: %s",
                      "Storage unavailable" if isinstance(error, StorageError)
                      else "No connector token", activity.type, activity.id, error)
            return _error(503, "ServiceUnavailable", "Try again later.", **{"Retry-After": "5"})
        except Exception as error:
            await self._release(key)
            # One line, no traceback (it may show what a client sent); DEBUG has the trace.
            log.error("Handler failed on %s activity %s in conversation %s: %s: %s",
                      activity.type, activity.id, conversation_id_of(activity),
                      error.__class__.__name__, error)
            log.debug("Handler failure on activity %s", activity.id, exc_info=True)
            return _error(500, "InternalError", "The bot could not handle this activity.")
        if key is not None and self._handled is not None:
            try:
                await self._handled.finish(*key)
            except StorageError as error:  # handled all the same; a re-send may repeat it
                log.warning("Could not record activity %s as handled: %s", activity.id, error)
        return self._respond(invoke)

    @staticmethod
    def _dedupe_key(activity: Activity) -> tuple[str, str, str] | None:
        """Invokes are answered with the current state each time (a repeat changes nothing
        there: actions are idempotent); every other activity with an id is applied once."""
        if not activity.id or activity.type == "invoke":
            return None
        return tenant_of(activity), conversation_id_of(activity), activity.id

    async def _release(self, key: tuple[str, str, str] | None) -> None:
        if key is None or self._handled is None:
            return
        try:
            await self._handled.release(*key)
        except StorageError as error:
            log.warning("Could not release activity %s for a re-send: %s", key[2], error)

    async def _authenticate(
        self, request: web.Request, activity: Activity
    ) -> AuthenticateRequestResult | web.Response:
        header = None if self._anonymous else request.headers.get("Authorization")
        if not self._anonymous and not header:
            log.info("Refused %s activity: no Authorization header", activity.type)
            return _error(401, "Unauthorized", "A Bot Framework token is required.")
        try:
            return await self._auth.authenticate_request(activity, header)
        except requests.RequestException as error:
            log.error("Cannot fetch Bot Framework signing keys: %s", error.__class__.__name__)
            return _error(503, "ServiceUnavailable", "Try again later.", **{"Retry-After": "10"})
        except (PermissionError, jwt.PyJWTError, IndexError, KeyError, ValueError) as error:
            # IndexError: botbuilder's key lookup for an unknown `kid`.
            log.info("Refused %s activity: invalid token (%s: %s)", activity.type,
                     error.__class__.__name__, error)
            return _error(401, "Unauthorized", "The Bot Framework token is not valid.")
        except Exception as error:
            log.warning("Refused %s activity: token check failed (%s)", activity.type,
                        error.__class__.__name__)
            return _error(401, "Unauthorized", "The Bot Framework token is not valid.")

    @staticmethod
    def _respond(invoke: InvokeResponse | None) -> web.Response:
        if invoke is None:
            return web.Response(status=HTTPStatus.OK)
        body = _body_json(invoke.body)
        if body is None:
            return web.Response(status=int(invoke.status or 200))
        return web.json_response(body, status=int(invoke.status or 200))
