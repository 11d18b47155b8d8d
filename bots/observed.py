"""What `/api/messages` tells the metrics about a request: the activity's type, as a bounded
label (the Bot Framework's activity types; anything else is "other", an unparsed body
"unknown"). Never a conversation id or anything else a sender controls."""

from __future__ import annotations

from aiohttp import web
from botbuilder.schema import ActivityTypes

ACTIVITY_TYPE = web.RequestKey("activity_type", str)
KNOWN_TYPES = frozenset(t.value for t in ActivityTypes)


def activity_type_label(activity_type: str | None) -> str:
    return activity_type if activity_type and activity_type in KNOWN_TYPES else "other"


def observed_type(request: web.Request) -> str:
    return request.get(ACTIVITY_TYPE, "unknown")
