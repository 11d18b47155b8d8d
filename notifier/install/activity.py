"""Activity-feed notifications through Microsoft Graph (msgraph-sdk):

  POST /users/{id}/teamwork/sendActivityNotification   204 No Content

Permission: application `TeamsActivity.Send` with admin consent; the notification's activity
type must be declared in the app manifest (`activities.activityTypes`), and the app must be
installed for the person (HeatWatch keeps it installed for ALERT_RECIPIENTS and the schedules'
people). What to send is decided in `notifier/delivery/feed.py`; failures come out as
`GraphError` with the HTTP status, which the composition root sorts into delivery's kinds.
"""

from __future__ import annotations

from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.key_value_pair import KeyValuePair
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.teamwork_activity_topic import TeamworkActivityTopic
from msgraph.generated.models.teamwork_activity_topic_source import TeamworkActivityTopicSource
from msgraph.generated.users.item.teamwork.send_activity_notification.send_activity_notification_post_request_body import (  # noqa: E501
    SendActivityNotificationPostRequestBody,
)
from msgraph.graph_service_client import GraphServiceClient

from common.wire import ActivityNotificationJson
from notifier.install.graph import graph_error

PERMISSION = "TeamsActivity.Send"


class ActivityFeed:
    def __init__(self, client: GraphServiceClient) -> None:
        self._graph = client

    async def send(self, user_id: str, body: ActivityNotificationJson) -> None:
        """Send one notification (`body` as Graph documents it) to `user_id`."""
        topic = body["topic"]
        request = SendActivityNotificationPostRequestBody(
            topic=TeamworkActivityTopic(source=TeamworkActivityTopicSource(topic["source"]),
                                        value=topic["value"], web_url=topic.get("webUrl")),
            activity_type=body["activityType"], chain_id=body.get("chainId"),
            preview_text=ItemBody(content=body["previewText"]["content"]),
            template_parameters=[KeyValuePair(name=p["name"], value=p["value"])
                                 for p in body.get("templateParameters", [])])
        try:
            await self._graph.users.by_user_id(user_id).teamwork.send_activity_notification.post(
                request)
        except ODataError as error:
            raise graph_error(error, f"the activity feed of {user_id}",
                              permission=PERMISSION) from None
