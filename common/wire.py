"""The Microsoft JSON shapes HeatWatch stores and sends, typed once at the bottom layer.

Storage keeps conversation references, delivery builds activities, the bot answers card
buttons and the activity feed posts to Graph: each shape is JSON on the wire, and the same
shape in every layer, so it is named here (below `storage/`) rather than where it is built.
Only the fields HeatWatch writes or reads are listed; the wire may carry more.

- `ConversationReferenceJson`, `ChannelAccountJson`, `ConversationAccountJson`: the Bot
  Framework REST API reference, "ConversationReference object", "ChannelAccount object",
  "ConversationAccount object"
  (https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-api-reference).
  botbuilder-python 4.17 serializes a conversation's tenant as `tenantID` (its msrest
  attribute map), while the REST reference and Teams spell it `tenantId`; stored references
  may hold either or both (`bots/references.py` adds `tenantId`), so both are listed.
- `ActivityJson`, `AttachmentJson`: the same reference's "Activity object" and "Attachment
  object": the subset of a message HeatWatch sends (a card, a text, a queued reply).
- `InvokeResponseJson`: the `adaptiveCard/action` invoke response of Universal Actions for
  Adaptive Cards ("Work with Universal Actions for Adaptive Cards", response format:
  https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/universal-actions-for-adaptive-cards/work-with-universal-actions-for-adaptive-cards).
- `ActivityNotificationJson`: the request body of Microsoft Graph's
  `POST /users/{id}/teamwork/sendActivityNotification`
  (https://learn.microsoft.com/graph/api/userteamwork-sendactivitynotification).

`CardJson` stays open-ended: an Adaptive Card's JSON is whatever its schema allows, built from
typed values (`notifier/delivery/cards.py` and the other renderers) and JSON from there on.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

# Adaptive Card JSON (a card, or one element of it): the JSON edge to Teams, defined once here
# (`notifier.delivery.budget` re-exports it beside the size budget every card is cut to).
# Cards are built from typed values (cards.py from the incident record, charts.py, the chat
# commands' and the handoff's cards) and are JSON only from there on, to the sender.
CardJson = dict[str, Any]


class ChannelAccountJson(TypedDict, total=False):
    """A user or bot account (REST API reference: ChannelAccount object)."""

    id: str
    name: str
    aadObjectId: str
    role: str


class ConversationAccountJson(TypedDict, total=False):
    """A conversation (REST API reference: ConversationAccount object). A channel thread's
    `id` is `<channel id>;messageid=<activity id>`."""

    id: str
    name: str
    conversationType: str  # "personal", "groupChat" or "channel"
    tenantId: str  # the REST reference's spelling
    tenantID: str  # botbuilder-python's (see the module docstring)
    isGroup: bool
    aadObjectId: str
    role: str


class ConversationReferenceJson(TypedDict, total=False):
    """Where a proactive message goes (REST API reference: ConversationReference object), as
    the registry stores it and the sender continues the conversation from it."""

    activityId: str
    user: ChannelAccountJson
    bot: ChannelAccountJson
    conversation: ConversationAccountJson
    channelId: str
    locale: str
    serviceUrl: str


class AttachmentJson(TypedDict):
    """An attachment (REST API reference: Attachment object); HeatWatch attaches only
    Adaptive Cards (`contentType` "application/vnd.microsoft.card.adaptive")."""

    contentType: str
    content: CardJson


class MentionedJson(TypedDict):
    """Someone a text names with an @mention, as HeatWatch queues it: plain data that the
    sender (`bots/sender.py`) turns into a Teams mention entity and `<at>` tag."""

    id: str  # the person's Teams user id, else their AAD object id
    name: str


class ActivityJson(TypedDict, total=False):
    """A message HeatWatch sends (REST API reference: Activity object), the subset it
    writes. `mentions` is HeatWatch's own, not the wire's: the sender takes it out."""

    type: str  # always "message"
    id: str
    text: str
    textFormat: str  # "markdown"
    summary: str  # what a notification shows of a card
    inputHint: str
    attachmentLayout: str
    attachments: list[AttachmentJson]
    replyToId: str
    mentions: list[MentionedJson]


class InvokeErrorJson(TypedDict):
    """The `value` of an error answer (`type` "application/vnd.microsoft.error")."""

    code: str
    message: str


class InvokeResponseJson(TypedDict):
    """The answer to an `adaptiveCard/action` invoke: a card to show in place of the one
    pressed (`type` "application/vnd.microsoft.card.adaptive"), a message
    ("application/vnd.microsoft.activity.message"), or an error."""

    statusCode: int
    type: str
    value: CardJson | str | InvokeErrorJson


class ActivityTopicJson(TypedDict):
    """What an activity-feed notification is about (Graph: teamworkActivityTopic)."""

    source: Literal["text", "entityUrl"]
    value: str
    webUrl: NotRequired[str]  # required when `source` is "text"


class ItemBodyJson(TypedDict):
    content: str


class KeyValuePairJson(TypedDict):
    name: str
    value: str


class ActivityNotificationJson(TypedDict):
    """The body of Graph's sendActivityNotification, as HeatWatch sends it."""

    topic: ActivityTopicJson
    activityType: str  # declared in the app manifest's activities.activityTypes
    chainId: NotRequired[int]  # one per incident: later notifications replace earlier ones
    previewText: ItemBodyJson
    templateParameters: list[KeyValuePairJson]
