"""A Microsoft Graph v1.0 stand-in for Teams app installation in personal scope.

GET  /v1.0/users/{id}
GET  /v1.0/users/{id}/teamwork/installedApps?$expand=teamsApp&$filter=teamsApp/externalId eq '..'
POST /v1.0/users/{id}/teamwork/installedApps           201, empty body; 409 if already there
GET  /v1.0/users/{id}/teamwork/installedApps/{iid}/chat
GET  /v1.0/appCatalogs/teamsApps?$filter=externalId eq '..'
POST /v1.0/users/{id}/teamwork/sendActivityNotification  204; 403 without TeamsActivity.Send
GET  /v1.0/teams/{id}/schedule/shifts?$filter=sharedShift/startDateTime ge .. and
     sharedShift/endDateTime le ..        pages of `shift_page` with @odata.nextLink
Errors use Graph's body: {"error": {"code", "message", "innerError": {...}}}.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.standins.threaded import StandIn

_EQ = re.compile(r"^\s*([A-Za-z/]+)\s+eq\s+'([^']*)'\s*$")


def graph_error(status: int, code: str, message: str, **headers: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message,
                   "innerError": {"date": "2026-11-21T10:00:00", "request-id": "00000000-0000"
                                  "-0000-0000-000000000000"}}},
        status=status, headers=headers or None)


@dataclass
class GraphStandIn(StandIn):
    manifest_id: str
    catalog_id: str = "b1c5353a-7aca-41b3-830f-27d5218fe0e5"
    users: dict[str, str] = field(default_factory=dict)  # AAD object id -> UPN
    installed: dict[str, str] = field(default_factory=dict)  # AAD object id -> installation id
    forbidden: bool = False
    feed_forbidden: bool = False  # no admin consent for TeamsActivity.Send
    notifications: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    shifts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # team -> shifts
    shift_page: int = 2
    shifts_forbidden: bool = False
    shifts_failing: bool = False  # 503 for the schedule (a Graph outage)
    throttle_next: int = 0
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    expected_token: str | None = None

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        app = web.Application(middlewares=[self._gate])
        base = "/v1.0/users/{uid}"
        app.router.add_get(base, self._user)
        app.router.add_get(base + "/teamwork/installedApps", self._list)
        app.router.add_post(base + "/teamwork/installedApps", self._install)
        app.router.add_get(base + "/teamwork/installedApps/{iid}/chat", self._chat)
        app.router.add_get("/v1.0/appCatalogs/teamsApps", self._catalog)
        app.router.add_post(base + "/teamwork/sendActivityNotification", self._notify)
        app.router.add_get("/v1.0/teams/{tid}/schedule/shifts", self._shifts)
        StandIn.__init__(self, app)

    @property
    def url(self) -> str:
        return self.base_url

    def chat_id(self, user_id: str) -> str:
        return f"19:{user_id}_heatwatch@unq.gbl.spaces"

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.requests.append((request.method, request.path_qs, body))
        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith("Bearer ") or (
                self.expected_token and authorization != f"Bearer {self.expected_token}"):
            return graph_error(401, "InvalidAuthenticationToken",
                               "Access token is empty.")
        if self.throttle_next > 0:
            self.throttle_next -= 1
            return graph_error(429, "TooManyRequests", "Too many requests.", **{"Retry-After": "1"})
        return await handler(request)

    def _resolve(self, request: web.Request) -> str | None:
        uid = request.match_info["uid"]
        if uid in self.users:
            return uid
        for aad, upn in self.users.items():
            if upn.lower() == uid.lower():
                return aad
        return None

    def _no_user(self, request: web.Request) -> web.Response:
        return graph_error(404, "Request_ResourceNotFound",
                           f"Resource '{request.match_info['uid']}' does not exist or one of its "
                           "queried reference-property objects are not present.")

    def _app(self) -> dict[str, Any]:
        return {"id": self.catalog_id, "externalId": self.manifest_id,
                "displayName": "HeatWatch", "distributionMethod": "organization"}

    async def _user(self, request: web.Request) -> web.Response:
        uid = self._resolve(request)
        if uid is None:
            return self._no_user(request)
        return web.json_response({"id": uid, "userPrincipalName": self.users[uid],
                                  "displayName": self.users[uid].split("@")[0]})

    async def _list(self, request: web.Request) -> web.Response:
        uid = self._resolve(request)
        if uid is None:
            return self._no_user(request)
        if self.forbidden:
            return self._forbidden()
        wanted = None
        if "$filter" in request.query:
            match = _EQ.match(request.query["$filter"])
            if not match or match.group(1) != "teamsApp/externalId":
                return graph_error(400, "BadRequest", "Invalid filter clause")
            wanted = match.group(2)
        expand = "teamsApp" in request.query.get("$expand", "")
        value = []
        if uid in self.installed and wanted in (None, self.manifest_id):
            item: dict[str, Any] = {"id": self.installed[uid]}
            if expand:
                item["teamsApp"] = self._app()
            value.append(item)
        return web.json_response({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata"
                                  "#users('x')/teamwork/installedApps", "value": value})

    async def _install(self, request: web.Request) -> web.Response:
        uid = self._resolve(request)
        if uid is None:
            return self._no_user(request)
        if self.forbidden:
            return self._forbidden()
        bind = (self.requests[-1][2] or {}).get("teamsApp@odata.bind", "")
        if not bind.endswith(f"/appCatalogs/teamsApps/{self.catalog_id}"):
            return graph_error(404, "NotFound", "The requested app was not found.")
        if uid in self.installed:
            return graph_error(409, "Conflict", "App is already installed.")
        self.installed[uid] = f"install-{next(self._ids)}"
        return web.Response(status=201)

    async def _chat(self, request: web.Request) -> web.Response:
        uid = self._resolve(request)
        if uid is None or self.installed.get(uid) != request.match_info["iid"]:
            return graph_error(404, "NotFound", "Installation not found.")
        return web.json_response({"id": self.chat_id(uid), "topic": None,
                                  "chatType": "oneOnOne",
                                  "createdDateTime": "2026-11-21T10:00:00Z"})

    async def _catalog(self, request: web.Request) -> web.Response:
        match = _EQ.match(request.query.get("$filter", ""))
        value = [self._app()] if match and match.group(2) == self.manifest_id else []
        return web.json_response({"value": value})

    async def _notify(self, request: web.Request) -> web.Response:
        """Checked as Graph documents the body: a topic (text needs webUrl), an activity type,
        preview text; chainId an Int64 when given."""
        uid = self._resolve(request)
        if uid is None:
            return self._no_user(request)
        if self.feed_forbidden:
            return graph_error(403, "Forbidden", "Missing role permissions on the request. "
                               "API requires one of 'TeamsActivity.Send'.")
        body = self.requests[-1][2] or {}
        topic = body.get("topic") or {}
        chain = body.get("chainId")
        if (topic.get("source") not in ("entityUrl", "text") or not topic.get("value")
                or (topic.get("source") == "text" and not topic.get("webUrl"))
                or not body.get("activityType")
                or not (body.get("previewText") or {}).get("content")
                or (chain is not None and not isinstance(chain, int))):
            return graph_error(400, "BadRequest", "Invalid activity notification")
        self.notifications.append((uid, body))
        return web.Response(status=204)

    async def _shifts(self, request: web.Request) -> web.Response:
        """Shared shifts of a team's schedule in the filter's range, a page at a time; as
        Graph documents, an application token must name a user in MS-APP-ACTS-AS."""
        if self.shifts_forbidden:
            return graph_error(403, "Forbidden", "Missing role permissions on the request. "
                               "API requires one of 'Schedule.Read.All'.")
        if self.shifts_failing:
            return graph_error(503, "ServiceNotAvailable", "The service is unavailable.")
        if not request.headers.get("MS-APP-ACTS-AS"):
            return graph_error(400, "BadRequest", "MS-APP-ACTS-AS header is required when "
                               "using application permissions.")
        match = re.fullmatch(r"sharedShift/startDateTime ge (\S+) and "
                             r"sharedShift/endDateTime le (\S+)",
                             request.query.get("$filter", ""))
        if not match:
            return graph_error(400, "BadRequest", "Invalid filter clause")
        start, end = match.groups()
        items = [s for s in self.shifts.get(request.match_info["tid"], [])
                 if s["sharedShift"]["startDateTime"] >= start
                 and s["sharedShift"]["endDateTime"] <= end]
        skip = int(request.query.get("$skiptoken", "0"))
        body: dict[str, Any] = {"value": items[skip:skip + self.shift_page]}
        if skip + self.shift_page < len(items):
            query = dict(request.query, **{"$skiptoken": str(skip + self.shift_page)})
            body["@odata.nextLink"] = str(request.url.with_query(query))
        return web.json_response(body)

    def _forbidden(self) -> web.Response:
        return graph_error(403, "Forbidden", "Missing role permissions on the request. API "
                           "requires one of 'TeamsAppInstallation.ReadWriteSelfForUser.All'.")
