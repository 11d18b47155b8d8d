"""The HTTP side of the alert receivers (`POST /api/alerts/<name>`), shared by all of them.

In order: disabled receivers answer 404; the credentials (bearer token or HTTP basic) are
compared in constant time, 401 when missing or wrong; only `application/json` (415); at most
`INBOUND_MAX_BYTES` (413, with or without a Content-Length); the whole body must be JSON as
`payload.parse_json` takes it (UTF-8, not too deep, numbers that fit: 400) and what its sender
documents (400 naming the field at fault). Nothing is stored before all of that passed. Then
the alert states not taken in before are published to the alert sink (durable when it returns)
and remembered; a notification delivered twice changes nothing. Every error is `{"error": {"code",
"message"}}` (plus `field`), never a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from common.clock import utcnow
from common.errors import StorageError
from common.metrics import UNCOUNTED, Metrics
from common.settings import ReceiverSettings
from notifier.alerts.sink import AlertSink
from notifier.inbound.payload import BadJson, Intake, PayloadError, parse_json
from storage.inbound import InboundStore

log = logging.getLogger(__name__)

Reader = Callable[[Any, datetime], list[Intake]]


def error(status: int, code: str, message: str, **extra: str) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="heatwatch", Basic realm="heatwatch"'} \
        if status == 401 else None
    return web.json_response({"error": {"code": code, "message": message, **extra}},
                             status=status, headers=headers)


def authorized(header: str, settings: ReceiverSettings) -> bool:
    """Bearer token or HTTP basic credentials, each compared in constant time."""
    if settings.open:
        return True
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and settings.token:
        return hmac.compare_digest(credentials.encode(), settings.token.encode())
    if scheme.lower() == "basic" and settings.user:
        try:
            user, _, password = base64.b64decode(credentials, validate=True).decode(
            ).partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        same_user = hmac.compare_digest(user.encode(), settings.user.encode())
        same_password = hmac.compare_digest(password.encode(), settings.password.encode())
        return same_user and same_password
    return False


class Receiver:
    """One receiver: its settings, how its payload becomes events, and where they go."""

    def __init__(self, name: str, settings: ReceiverSettings, read: Reader, sink: AlertSink,
                 store: InboundStore, lock: asyncio.Lock, max_bytes: int,
                 metrics: Metrics = UNCOUNTED, read_timeout: float = 30.0) -> None:
        self.name = name
        self.settings = settings
        self._read = read
        self._sink = sink
        self._store = store
        # One notification at a time (in this process, and among replicas sharing a database):
        # two copies of a notification must not open two incidents.
        self._lock = lock
        self._max_bytes = max_bytes
        self._metrics = metrics
        # A sender that trickles its body (or stops sending it) holds a connection and its
        # memory: after this long it gets a 408 (Alertmanager retries a failed notification).
        self._read_timeout = read_timeout

    async def handle(self, request: web.Request) -> web.Response:
        response, outcome = await self._handle(request)
        self._metrics.inbound(self.name, outcome)
        return response

    async def _body(self, request: web.Request) -> bytes | None:
        """The whole body, or None when it is over the cap (read no further than cap + 1
        bytes). `read(n)` returns what has arrived, up to n bytes: a body sent in pieces (8 KB
        writes, chunked) is read until its end, with or without a Content-Length. A body
        whose framing or compression is broken raises `web.RequestPayloadError`."""
        if request.content_length is not None and request.content_length > self._max_bytes:
            return None
        pieces: list[bytes] = []
        size = 0
        while piece := await request.content.read(self._max_bytes + 1 - size):
            pieces.append(piece)
            size += len(piece)
            if size > self._max_bytes:
                return None
        return b"".join(pieces)

    async def _handle(self, request: web.Request) -> tuple[web.Response, str]:
        if not self.settings.enabled:
            return error(404, "receiver_disabled", f"The {self.name} receiver is not "
                         "configured on this HeatWatch."), "disabled"
        if not authorized(request.headers.get("Authorization", ""), self.settings):
            log.warning("Refused a %s notification from %s: missing or wrong credentials",
                        self.name, request.remote)
            return error(401, "unauthorized", "Missing or wrong credentials (a bearer token "
                         "or HTTP basic authentication)."), "unauthorized"
        if request.content_type != "application/json":
            return error(415, "unsupported_media_type", "Send JSON (Content-Type: "
                         "application/json)."), "invalid"
        try:
            async with asyncio.timeout(self._read_timeout):
                body = await self._body(request)
        except TimeoutError:
            log.warning("A %s notification from %s did not arrive whole within %g s "
                        "(INBOUND_READ_TIMEOUT_SECONDS)", self.name, request.remote,
                        self._read_timeout)
            response = error(408, "request_timeout", "The body did not arrive in time "
                             f"({self._read_timeout:g} s).")
            response.force_close()
            return response, "invalid"
        except web.RequestPayloadError as problem:
            response = error(400, "bad_body", "The body could not be read: " + " ".join(
                str(problem).split()))
            response.force_close()  # the rest of the body cannot be read either
            return response, "invalid"
        if body is None:
            return error(413, "too_large", f"The body is over {self._max_bytes} bytes "
                         "(INBOUND_MAX_BYTES)."), "too_large"
        try:
            payload = parse_json(body)
        except BadJson as problem:
            return error(400, "bad_json", f"The body is not JSON: {problem}"), "invalid"
        except PayloadError as problem:
            return error(400, "bad_payload", str(problem), field=problem.field), "invalid"
        now = utcnow()
        try:
            intakes = self._read(payload, now)
        except PayloadError as problem:
            return error(400, "bad_payload", str(problem), field=problem.field), "invalid"
        try:
            async with self._lock, self._store.exclusive():
                fresh = await self._store.unseen(state for state, _ in intakes)
                events = [event for state, event in intakes if state in fresh]
                if events:
                    await self._sink.publish(events)
                    await self._store.mark_seen(self.name, fresh, now)
        except StorageError as problem:
            log.error("A %s notification could not be stored (%s); the sender will retry",
                      self.name, problem)
            return error(503, "unavailable", "Storage is unavailable; retry later."), "failed"
        log.info("%s notification: %d alert(s), %d new or changed (%s)", self.name,
                 len(intakes), len(events), ", ".join(sorted({e.rule for _, e in intakes})))
        return web.json_response({"received": len(intakes), "new": len(events)}), (
            "accepted" if events else "duplicate")
