"""A Bot Connector serializer that does not walk card JSON key by key.

msrest serializes an `object`-typed field (an attachment's `content`: the Adaptive Card, and
`channelData`, `value`) by visiting every key and value in Python: about 7 ms of CPU for a card
with a chart (5 lines of 60 points), and botbuilder's `Activity().deserialize` walks it once
more on the way in. At Teams' tenant cap of 50 sends a second that is most of a core, so the
first posts of a new incident waited on CPU, not on the connector (issue #24, the soak).

`JsonSerializer` hands such a field over as it is when it is already plain JSON (what
`json.dumps` accepts without NaN), which is all that msrest's walk would make of it; anything
else (a model, a datetime) takes msrest's own path. `message_activity` builds an `Activity`
from our JSON without walking the cards either.
"""

from __future__ import annotations

import json
from typing import Any

from botbuilder.schema import Activity, Attachment
from msrest import Serializer

from common.wire import ActivityJson


class JsonSerializer(Serializer):
    def serialize_object(self, attr: Any, **kwargs: Any) -> Any:
        if isinstance(attr, dict | list):
            try:
                json.dumps(attr, allow_nan=False)
            except (TypeError, ValueError):
                pass
            else:
                return attr
        return super().serialize_object(attr, **kwargs)


def use_json_serializer(client: Any) -> None:
    """Make a ConnectorClient and its operation groups serialize through `JsonSerializer`."""
    serializer = JsonSerializer(client._serialize.dependencies)
    client._serialize = serializer
    for group in (client.conversations, client.attachments):
        group._serialize = serializer


def message_activity(activity: ActivityJson) -> Activity:
    """An `Activity` from our JSON; attachment contents are kept as they are, not walked."""
    plain = {key: value for key, value in activity.items() if key != "attachments"}
    message = Activity().deserialize(plain)
    if "attachments" in activity:
        message.attachments = []
        for item in activity.get("attachments") or []:
            attachment = Attachment().deserialize(
                {key: value for key, value in item.items() if key != "content"})
            attachment.content = item.get("content")
            message.attachments.append(attachment)
    return message
