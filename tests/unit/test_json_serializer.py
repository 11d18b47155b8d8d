"""bots/serializer.py: the connector's body is what msrest would have sent, without its walk."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import botframework.connector.models as connector_models
from msrest import Serializer

from bots.serializer import JsonSerializer, message_activity

MODELS = {name: kind for name, kind in vars(connector_models).items() if isinstance(kind, type)}
CARD = {"type": "AdaptiveCard", "version": "1.5",
        "body": [{"type": "TextBlock", "text": "Server room: 31.2 °C", "wrap": True},
                 {"type": "Chart.Line", "data": [
                     {"legend": "rack-1", "values": [{"x": -2, "y": 30.5}, {"x": 0, "y": 31.2}]}]}],
        "actions": [{"type": "Action.Execute", "verb": "ack", "data": {"alert": "a1"}}]}
MESSAGE = {"type": "message", "summary": "Server room: 31.2 °C", "text": "",
           "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                            "content": CARD}],
           "channelData": {"notification": {"alert": True}}}


def test_the_body_is_the_one_msrest_builds() -> None:
    expected = Serializer(MODELS).body(message_activity(MESSAGE), "Activity")
    body = JsonSerializer(MODELS).body(message_activity(MESSAGE), "Activity")
    assert body == expected
    assert body["attachments"][0]["content"] == CARD
    assert body["channelData"] == {"notification": {"alert": True}}


def test_the_card_is_not_copied_or_walked_on_the_way_in() -> None:
    activity = message_activity(MESSAGE)
    assert activity.attachments[0].content is CARD
    assert activity.attachments[0].content_type == "application/vnd.microsoft.card.adaptive"
    assert activity.summary == "Server room: 31.2 °C"


def test_what_is_not_plain_json_takes_msrest_s_own_path() -> None:
    moment = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    serializer = JsonSerializer(MODELS)
    assert serializer.serialize_object({"at": moment}) == {"at": "2026-12-06T03:00:00.000Z"}
    odd = {"value": math.nan}
    assert serializer.serialize_object(odd) is not odd
