"""Test helpers that play the Teams side: load Microsoft-shaped activities and post them."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from common.settings import Settings, load_settings
from tests.support.waiting import outbox_drained

FIXTURES = Path(__file__).parents[1] / "fixtures" / "activities"

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
APP_ID = "f5d48856-5b42-41a0-8c3a-c5f944b679b0"
APP_SECRET = "s3cr3t~Bot.Password_value"  # the bot's client secret in tests
BOT_ID = "28:" + APP_ID
TEAM = "19:efa9296d959346209fea44151c742e73@thread.skype"
CHANNEL = "19:6d97d816470f481dbcda38244b98689a@thread.skype"
NEW_CHANNEL = "19:4104ba2c9b9d4f7bb1a1a87d2eb0d2b6@thread.skype"
PERSONAL = (
    "a:1jkGLm6oEPvHHyGhXVSeS8Qw4ZvyRuBW4EnHqIsHg4UPkjfJeoVFaYDhbUJJz7RkCkzv4pVCO5x1sh0f1fJnW1Hu4"
    "_fCq3X4ZyOy1Y6HqTs7mIy9H2PcBI-vBQYcjmv5L"
)
GROUP = "19:b8f2c1e0a6a54f7c9b1d7d2f3e4a5b6c@thread.v2"
USER_ID = "29:1I9Is_Sx0O-Iy2rQ7Xz1lcaPKlO9eqmBRTBuW6XzkFtcjqxTjPaCMij8BVMdBcL9L_RwWNJyAHFQb0TRzXgyQvA"
USER_AAD = "c33aafc4-646d-4543-9d4c-abd28e4d2110"
USER2_ID = "29:1_LCi5Up14pAy65yZuaJzG1uIT7ujYhjjSTsUNqjORsZHjLHKiQIBJa4cX2XsAsRoaY7va2w6ZymA9-1VtSY_g"
USER2_AAD = "eddfa9d4-346e-4cce-a18f-fa6261ad776b"


def authenticated_settings(database_url: str, openid_metadata_url: str, entra_authority: str,
                           **extra: str) -> Settings:
    """The bot with its own identity (single-tenant), checking tokens against the OpenID
    stand-in and getting its tokens from the Entra stand-in; monitoring off unless asked."""
    return load_settings(environ={
        "MicrosoftAppId": APP_ID, "MicrosoftAppPassword": APP_SECRET,
        "MicrosoftAppType": "SingleTenant", "MicrosoftAppTenantId": TENANT,
        "DATABASE_URL": database_url, "BOT_OPENID_METADATA_URL": openid_metadata_url,
        "BOT_EMULATOR_OPENID_METADATA_URL": openid_metadata_url,
        "ENTRA_AUTHORITY_HOST": entra_authority, "MONITORING_ENABLED": "false", **extra,
    }, env_file=None)


def load_activity(name: str, service_url: str, **overrides: Any) -> dict[str, Any]:
    """A stored activity, with a new id each time as Teams gives every activity its own (pass
    `id=` to re-send one)."""
    activity = json.loads((FIXTURES / f"{name}.json").read_text())
    activity["serviceUrl"] = service_url
    activity["id"] = f"{activity.get('id') or 'f'}.{uuid.uuid4().hex[:12]}"
    activity.update(copy.deepcopy(overrides))
    return activity


class TeamsChannel:
    """Posts activities to the bot's /api/messages as the Teams channel would."""

    def __init__(
        self,
        client: TestClient,
        service_url: str,
        token_for: Callable[[str], str] | None = None,
    ) -> None:
        self.client = client
        self.service_url = service_url
        self.token_for = token_for

    async def post(self, activity: dict[str, Any] | str, **overrides: Any) -> tuple[int, Any]:
        if isinstance(activity, str):
            activity = load_activity(activity, self.service_url, **overrides)
        headers = {}
        if self.token_for is not None:
            headers["Authorization"] = "Bearer " + self.token_for(activity["serviceUrl"])
        response = await self.client.post("/api/messages", json=activity, headers=headers)
        text = await response.text()
        return response.status, (json.loads(text) if text else None)

    async def ok(self, activity: dict[str, Any] | str, **overrides: Any) -> Any:
        status, body = await self.post(activity, **overrides)
        assert status == 200, (status, body)
        return body

    async def drained(self, timeout: float = 10.0) -> None:
        """Wait until the app's outbox has nothing pending: welcomes and queued replies are
        sent by the delivery workers, after the request was answered."""
        await outbox_drained(self.client.app, timeout)


def card_text(card: dict[str, Any]) -> str:
    """Every text and fact of a card, containers, columns and table rows included, in
    order."""
    parts: list[str] = []

    def walk(blocks: list[dict[str, Any]]) -> None:
        for block in blocks:
            parts.append(block.get("text", ""))
            parts.extend(f"{f['title']}={f['value']}" for f in block.get("facts", []))
            walk(block.get("items", []))
            for row in block.get("rows", []):  # a Table: "cell / cell / cell" per row
                parts.append(" / ".join(" ".join(item.get("text", "") for item in
                                                 cell.get("items", []))
                                        for cell in row.get("cells", [])))
            for column in block.get("columns", []):
                walk(column.get("items", []))

    walk(card["body"])
    return " | ".join(part for part in parts if part)
