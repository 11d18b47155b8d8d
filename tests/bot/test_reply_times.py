# ruff: noqa: F811 (the fixtures of test_delivery are imported)
"""Text replies in the asker's own time zone (what Teams sends on the activity), through the
real endpoint; `history`'s list and timeline agreeing on instants and words."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient

from notifier.alerts.events import EventKind
from tests.oncall.test_oncall import ALEX, fired, say
from tests.standins.connector import ConnectorStandIn
from tests.support.delivery import (  # noqa: F401 (fixtures)
    alert_event,
    client,
    delivery_env,
    installed,
    publish,
)
from tests.support.teams import CHANNEL, PERSONAL, TeamsChannel
from tests.support.waiting import eventually

STAMP = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ([A-Za-z0-9+-]+)"


async def said(teams: TeamsChannel, connector: ConnectorStandIn, text: str,
               **activity: Any) -> str:
    """A command from Alex in the personal chat, with extra activity fields; the answer."""
    before = len(connector.texts(PERSONAL))
    await teams.ok("message_personal", text=text, **{"from": ALEX}, **activity)
    return connector.texts(PERSONAL)[before]


def moment(text: str, after: str) -> tuple[datetime, str]:
    found = re.search(re.escape(after) + " " + STAMP, text)
    assert found, text
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S"), found.group(2)


def in_zone(utc: datetime, name: str) -> tuple[datetime, str]:
    local = utc.replace(tzinfo=UTC).astimezone(ZoneInfo(name))
    return local.replace(tzinfo=None), local.strftime("%Z")


async def test_a_reply_is_in_the_asker_time_zone_from_local_timezone_or_client_info(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    alert_id = await fired(client, connector)
    await say(installed, connector, f"ack {alert_id[:8]}")  # Megan acknowledges
    command = f"ack {alert_id[:8]}"

    unknown = await said(installed, connector, command)  # the fixture has no time zone
    utc, name = moment(unknown, "Already acknowledged by Megan Bowen at")
    assert name == "UTC"

    tokyo = await said(installed, connector, command, localTimezone="Asia/Tokyo")
    assert moment(tokyo, "at") == in_zone(utc, "Asia/Tokyo")  # 9 hours ahead, "JST"

    entities = [{"type": "clientInfo", "locale": "en-US", "country": "US",
                 "platform": "Web", "timezone": "America/New_York"}]
    new_york = await said(installed, connector, command, entities=entities)
    assert moment(new_york, "at") == in_zone(utc, "America/New_York")

    # localTimezone wins over clientInfo; a name nobody knows is UTC, and says so.
    both = await said(installed, connector, command, localTimezone="Europe/Paris",
                      entities=entities)
    assert moment(both, "at") == in_zone(utc, "Europe/Paris")
    bogus = await said(installed, connector, command, localTimezone="Mars/Olympus_Mons")
    assert moment(bogus, "at") == (utc, "UTC")


async def test_history_list_and_timeline_use_the_same_instants_and_words(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    alert_id = await fired(client, connector)
    await say(installed, connector, f"ack {alert_id[:8]}", who=ALEX)
    await publish(client, alert_event(EventKind.RESOLVED, alert_id, None, 25.0, None))
    await installed.drained()  # the resolution's messages come before the answers
    zone = {"localTimezone": "America/Los_Angeles"}

    listed = await said(installed, connector, "history", **zone)
    [line] = [line for line in listed.splitlines() if alert_id[:8] in line]
    timeline = await said(installed, connector, f"history {alert_id[:8]}", **zone)
    steps = timeline.split("\n\n", 1)[1].splitlines()
    assert [step.split("**")[1] for step in steps] == ["fired", "acknowledged", "resolved"]

    fired_at = moment(line, "fired at")
    assert fired_at[1] in ("PST", "PDT")
    assert steps[0].startswith("- " + fired_at[0].strftime("%Y-%m-%d %H:%M:%S ") + fired_at[1])
    assert steps[0].endswith("**fired**: warning")  # not "fired: fired, severity warn"
    after = re.search(r"acknowledged by Alex Wilber (after \d+ s)", line)
    assert after, line
    assert steps[1].endswith(f"**acknowledged** by Alex Wilber (here): {after.group(1)}")
    assert "times in UTC" not in listed + timeline


async def test_texts_sent_later_to_a_personal_chat_give_times_in_its_person_time_zone(
    client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn
) -> None:
    """Proactive texts (a reminder here) have one reader in a personal chat: its times are in
    the zone Teams last sent with that person's message. A channel has many: UTC, said."""
    alert_id = await fired(client, connector)
    await said(installed, connector, "help", localTimezone="Asia/Tokyo")
    await publish(client, alert_event(EventKind.REMINDER, alert_id))

    def reminders(conversation: str) -> list[str]:  # a channel's: in the card's thread
        return [str(r.body.get("text")) for r in connector.sent()
                if r.conversation_id.startswith(conversation)
                and str(r.body.get("text")).startswith("Still firing:")]

    await eventually(lambda: reminders(PERSONAL) and reminders(CHANNEL))
    [personal], [channel] = reminders(PERSONAL), reminders(CHANNEL)
    since = alert_event(EventKind.REMINDER, alert_id).since
    assert since is not None
    utc = since.astimezone(UTC).replace(tzinfo=None)
    assert moment(channel, "since") == (utc, "UTC")
    assert moment(personal, "since") == in_zone(utc, "Asia/Tokyo")  # 9 hours ahead, "JST"
