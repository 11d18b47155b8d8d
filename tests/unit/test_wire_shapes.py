"""common/wire.py: the declared Bot Framework shapes hold every key botbuilder writes into what
HeatWatch stores (a conversation reference) and queues (a reply it could not send in-turn), for
the incoming activities Teams sends (tests/fixtures/activities)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botbuilder.core import CardFactory, MessageFactory
from botbuilder.schema import Activity

from bots.references import personal_chat_reference, reference_of
from common.wire import (
    ActivityJson,
    AttachmentJson,
    ChannelAccountJson,
    ConversationAccountJson,
    ConversationReferenceJson,
)
from notifier.install.graph import PersonalChat

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "activities"
ACCOUNTS = {"user": ChannelAccountJson, "bot": ChannelAccountJson,
            "conversation": ConversationAccountJson}


def keys(shape: Any) -> set[str]:
    return set(shape.__required_keys__ | shape.__optional_keys__)


def undeclared(reference: dict[str, Any]) -> set[str]:
    """The keys of a reference (and of its accounts) that its TypedDicts do not name."""
    extra = set(reference) - keys(ConversationReferenceJson)
    for name, shape in ACCOUNTS.items():
        extra |= {f"{name}.{key}" for key in set(reference.get(name) or {}) - keys(shape)}
    return extra


@pytest.mark.parametrize("name", sorted(path.stem for path in FIXTURES.glob("*.json")))
def test_a_stored_reference_has_only_declared_keys(name: str) -> None:
    incoming = json.loads((FIXTURES / f"{name}.json").read_text())
    incoming["serviceUrl"] = "https://smba.trafficmanager.net/emea/"
    reference = reference_of(Activity().deserialize(incoming))
    assert reference.get("conversation", {}).get("id"), name
    assert undeclared(dict(reference)) == set()


def test_a_reference_from_graph_has_only_declared_keys() -> None:
    chat = PersonalChat("tenant-1", "a:1chat", "aad-1", "https://smba.trafficmanager.net/emea/")
    reference = personal_chat_reference("app-1", chat)
    assert undeclared(dict(reference)) == set()
    conversation = reference["conversation"]
    assert (conversation["id"], conversation["conversationType"]) == ("a:1chat", "personal")


@pytest.mark.parametrize("message", [
    MessageFactory.text("Acknowledged."),
    MessageFactory.attachment(CardFactory.adaptive_card({"type": "AdaptiveCard"})),
], ids=["text", "card"])
def test_a_queued_reply_has_only_declared_keys(message: Activity) -> None:
    """What bots/heatwatch_bot.py queues when an in-turn reply fails (`Activity.serialize`)."""
    outgoing = message.serialize()
    outgoing.setdefault("replyToId", "1")
    assert set(outgoing) - keys(ActivityJson) == set()
    for attachment in outgoing.get("attachments", []):
        assert set(attachment) == keys(AttachmentJson)
