"""An InfluxDB 2.x `/api/v2/query` stand-in (InfluxDB 2 cannot be installed here).

Checks what influxdb-client sends (path, org, Flux text, token header) and answers with
annotated CSV as InfluxDB 2 documents it, or with InfluxDB 2's JSON error bodies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from tests.standins.threaded import StandIn


@dataclass
class FluxRow:
    room: str
    sensor: str
    value: float
    time: datetime


@dataclass
class Influx2StandIn(StandIn):
    token: str
    org: str
    buckets: set[str]
    rows: list[FluxRow] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        app = web.Application()
        app.router.add_post("/api/v2/query", self._query)
        StandIn.__init__(self, app)

    @property
    def url(self) -> str:
        return self.base_url

    async def _query(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({"org": request.query.get("org"), "body": body,
                              "authorization": request.headers.get("Authorization"),
                              "content_type": request.content_type})
        if request.headers.get("Authorization") != f"Token {self.token}":
            return web.json_response({"code": "unauthorized", "message": "unauthorized access"},
                                     status=401)
        if request.query.get("org") != self.org:
            return web.json_response({"code": "not found",
                                      "message": f"organization name \"{request.query.get('org')}"
                                                 "\" not found"}, status=404)
        query = body.get("query", "")
        bucket = query.split('from(bucket: "', 1)[-1].split('"', 1)[0]
        if bucket not in self.buckets:
            return web.json_response({"code": "not found", "message": "failed to initialize "
                                      f"execute state: could not find bucket \"{bucket}\""},
                                     status=404)
        lines = [
            "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,"
            "string,string,string,string",
            "#group,false,false,true,true,false,false,true,true,true,true",
            "#default,_result,,,,,,,,,",
            ",result,table,_start,_stop,_time,_value,_field,_measurement,room,sensor",
        ]
        for table, row in enumerate(self.rows):
            lines.append(
                f",,{table},2026-01-01T00:00:00Z,2030-01-01T00:00:00Z,"
                f"{row.time.strftime('%Y-%m-%dT%H:%M:%SZ')},{row.value},value,temperature,"
                f"{row.room},{row.sensor}")
        return web.Response(text="\r\n".join(lines) + "\r\n\r\n", content_type="text/csv")
