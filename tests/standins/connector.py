"""A Bot Connector (v3 REST) stand-in: the calls HeatWatch makes, with Microsoft's status codes
and error bodies, recording what it received.

Shapes follow the Bot Connector API reference: send/reply answer 201 with a ResourceResponse,
update 200, delete 200, errors `{"error": {"code", "message"}}`, 401 for a missing or wrong
bearer token with the connector's own message.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.standins.threaded import StandIn


@dataclass
class Received:
    method: str
    path: str
    conversation_id: str | None
    activity_id: str | None
    body: Any
    authorization: str | None
    status: int = 0
    answered_id: str | None = None
    arrived: float = field(default_factory=time.monotonic)  # when the stand-in got it


BODY = web.RequestKey("body", object)
TEAMS_WINDOWS = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))


@dataclass
class Fault:
    """Answer the next `times` matching calls with `status` (and a Connector error body, or
    `html`: a page such as a gateway in front of the connector sends). Status 0 drops the
    connection without an answer."""

    status: int
    code: str = ""
    message: str = ""
    retry_after: str | None = None
    conversation_id: str | None = None
    times: int = 1
    html: str | None = None


@dataclass
class Member:
    id: str
    name: str
    aad_object_id: str
    user_principal_name: str = ""
    email: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "aadObjectId": self.aad_object_id,
            "userPrincipalName": self.user_principal_name,
            "email": self.email,
            "userRole": "user",
            **self.extra,
        }


class ConnectorStandIn(StandIn):
    def __init__(self, expected_token: str | None = None, latency: float = 0.0,
                 rate_limit: bool = True, throttle_share: float = 0.0) -> None:
        self.throttle_share = throttle_share  # share of sends answered 429 at random
        self.throttled = 0
        self.expected_token = expected_token
        self.latency = latency
        self.rate_limit = rate_limit
        self.violations = 0  # sends over Teams' per-conversation limits (answered 429)
        self.arrivals = 0  # requests that reached the stand-in, answered or not yet
        self._sends: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=1800))
        self.received: list[Received] = []
        self.faults: list[Fault] = []
        self.members: dict[str, Member] = {}
        self.teams: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        app = web.Application(middlewares=[self._record])
        app.router.add_post("/v3/conversations", self._create_conversation)
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._send)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._update)
        app.router.add_delete("/v3/conversations/{cid}/activities/{aid}", self._delete)
        app.router.add_get("/v3/conversations/{cid}/members", self._members)
        app.router.add_get("/v3/conversations/{cid}/members/{mid}", self._member)
        app.router.add_get("/v3/teams/{tid}", self._team)
        super().__init__(app)

    @property
    def url(self) -> str:
        return self.base_url + "/"

    # what tests read ---------------------------------------------------------------------

    def sent(self, conversation_id: str | None = None) -> list[Received]:
        """Messages posted (send or reply) and accepted, optionally to one conversation."""
        with self._lock:
            return [
                r for r in self.received
                if r.method == "POST" and "/activities" in r.path and r.status == 201
                and (conversation_id is None or r.conversation_id == conversation_id)
            ]

    def updates(self, conversation_id: str | None = None) -> list[Received]:
        """Accepted `update_activity` calls."""
        with self._lock:
            return [r for r in self.received if r.method == "PUT" and r.status == 200
                    and (conversation_id is None or r.conversation_id == conversation_id)]

    def cards(self, conversation_id: str | None = None) -> list[Received]:
        """Accepted posts that carry an Adaptive Card."""
        return [r for r in self.sent(conversation_id) if r.body.get("attachments")]

    def latest_cards(self, conversation_id: str) -> dict[str, dict[str, Any]]:
        """What each card message of a conversation shows now, by activity id: its post, or
        its latest accepted update."""
        shown: dict[str, dict[str, Any]] = {}
        with self._lock:
            for r in self.received:
                if r.conversation_id != conversation_id or not r.body.get("attachments"):
                    continue
                if r.method == "POST" and "/activities" in r.path and r.status == 201:
                    shown[str(r.answered_id)] = r.body["attachments"][0]["content"]
                elif r.method == "PUT" and r.status == 200:
                    shown[str(r.activity_id)] = r.body["attachments"][0]["content"]
        return shown

    def texts(self, conversation_id: str | None = None) -> list[str]:
        return [str(r.body.get("text", "")) for r in self.sent(conversation_id)]

    def clear(self) -> None:
        with self._lock:
            self.received.clear()

    # handlers ----------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body: Any = await request.json() if request.can_read_body else None
        request[BODY] = body
        received = Received(request.method, request.path, request.match_info.get("cid"),
                            request.match_info.get("aid"), body,
                            request.headers.get("Authorization"))
        with self._lock:
            self.arrivals += 1
        response = await handler(request)
        received.status = response.status
        if isinstance(response, web.Response) and response.body and response.status in (200,
                                                                                          201):
            answer = json.loads(response.body)
            received.answered_id = answer.get("id") if isinstance(answer, dict) else None
        with self._lock:
            self.received.append(received)
        return response

    async def _gate(self, request: web.Request) -> tuple[Any, web.Response | None]:
        body: Any = request[BODY]
        cid = request.match_info.get("cid")
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.expected_token is not None and request.headers.get(
            "Authorization"
        ) != f"Bearer {self.expected_token}":
            return body, web.json_response(
                {"message": "Authorization has been denied for this request."}, status=401
            )
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.conversation_id in (None, cid):
                    fault.times -= 1
                    if fault.status == 0:
                        assert request.transport is not None
                        request.transport.close()
                        return body, web.Response(status=500)
                    headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
                    if fault.html is not None:
                        return body, web.Response(status=fault.status, text=fault.html,
                                                  content_type="text/html", headers=headers)
                    return body, web.json_response(
                        {"error": {"code": fault.code or "ServiceError",
                                   "message": fault.message or "Injected failure."}},
                        status=fault.status, headers=headers,
                    )
            if self.throttle_share and random.random() < self.throttle_share:
                self.throttled += 1
                return body, web.json_response(
                    {"error": {"code": "TooManyRequests", "message": "Throttled."}},
                    status=429, headers={"Retry-After": "1"})
            if self.rate_limit and cid and "/activities" in request.path and self._over_limit(cid):
                self.violations += 1
                return body, web.json_response(
                    {"error": {"code": "TooManyRequests",
                               "message": "Too many requests for this conversation."}},
                    status=429, headers={"Retry-After": "1"})
        return body, None

    def _over_limit(self, cid: str) -> bool:
        """Teams' documented per-conversation limits, judged at arrival; a refused send does
        not count."""
        now = time.monotonic()
        log = self._sends[cid]
        for count, width in TEAMS_WINDOWS:
            if len(log) >= count and log[-count] > now - width:
                return True
        log.append(now)
        return False

    def _next_id(self) -> str:
        return f"1{next(self._ids):012d}"

    async def _send(self, request: web.Request) -> web.Response:
        _, failure = await self._gate(request)
        return failure or web.json_response({"id": self._next_id()}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        _, failure = await self._gate(request)
        return failure or web.json_response({"id": request.match_info["aid"]}, status=200)

    async def _delete(self, request: web.Request) -> web.Response:
        _, failure = await self._gate(request)
        return failure or web.Response(status=200)

    async def _create_conversation(self, request: web.Request) -> web.Response:
        _, failure = await self._gate(request)
        if failure:
            return failure
        return web.json_response(
            {"id": f"a:{self._next_id()}", "activityId": self._next_id()}, status=201
        )

    async def _members(self, request: web.Request) -> web.Response:
        _, failure = await self._gate(request)
        return failure or web.json_response([m.json() for m in self.members.values()])

    async def _member(self, request: web.Request) -> web.Response:
        _, failure = await self._gate(request)
        if failure:
            return failure
        member = self.members.get(request.match_info["mid"])
        if member is None:
            return web.json_response(
                {"error": {"code": "MemberNotFoundInConversation",
                           "message": "The specified user was not found in the roster."}},
                status=404,
            )
        return web.json_response(member.json())

    async def _team(self, request: web.Request) -> web.Response:
        _, failure = await self._gate(request)
        if failure:
            return failure
        team = self.teams.get(request.match_info["tid"])
        if team is None:
            return web.json_response(
                {"error": {"code": "ConversationNotFound", "message": "Conversation not found."}},
                status=404,
            )
        return web.json_response(team)
