"""What an incoming activity must look like before anything is stored or sent for it.

Two checks, both before the handler runs:
- `shape_problem`: the fields HeatWatch relies on are there and of the right JSON type
  (`type`, `channelId`, `serviceUrl` an absolute http(s) URL, `conversation.id`, and the
  objects and lists Teams sends, with the nested fields the handler reads: members, mentions,
  reactions, channelData's team/channel/tenant). A problem is a 400: nothing is stored,
  nothing is sent.
- `ServiceUrlPolicy`: where replies may go. Anonymous local mode only talks to loopback
  connectors (the Playground is `http://localhost:56150/_connector`); with an app id the token's
  `serviceurl` claim already binds the URL, and the host must also be one of the cloud's
  connector hosts (`BOT_SERVICE_URL_HOSTS`), over https (http only for loopback stand-ins).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from common.settings import Settings, is_loopback

# Optional fields: when present they must be of this JSON type (msrest would otherwise
# deserialize nonsense into half-built objects that fail deep inside botbuilder).
_OBJECTS = ("from", "recipient", "conversation", "channelData")
_STRINGS = ("id", "text", "action", "name", "replyToId", "locale")
_LISTS = ("membersAdded", "membersRemoved", "reactionsAdded", "reactionsRemoved", "entities",
          "attachments")


# Nested fields Teams sends and the handler reads: when present, of this JSON type.
_NESTED: dict[str, dict[str, type]] = {
    "conversation": {"id": str, "conversationType": str, "tenantId": str, "name": str},
    "from": {"id": str, "name": str, "aadObjectId": str},
    "recipient": {"id": str, "name": str},
    "channelData": {"eventType": str, "team": dict, "channel": dict, "tenant": dict,
                    "eventInfo": dict, "settings": dict, "notification": dict,
                    "meeting": dict},
}
_ITEMS: dict[str, dict[str, type]] = {
    "membersAdded": {"id": str, "name": str, "aadObjectId": str},
    "membersRemoved": {"id": str, "name": str, "aadObjectId": str},
    "reactionsAdded": {"type": str},
    "reactionsRemoved": {"type": str},
    "entities": {"type": str, "mentioned": dict, "text": str},
}
_TEAM_FIELDS: dict[str, type] = {"id": str, "name": str, "aadGroupId": str}
_JSON_NAMES: dict[type, str] = {str: "a string", dict: "an object"}


def _field_problem(where: str, node: dict[str, Any], fields: dict[str, type]) -> str | None:
    for name, kind in fields.items():
        value = node.get(name)
        if value is not None and not isinstance(value, kind):
            return f"The activity's {where}.{name} must be {_JSON_NAMES[kind]}."
    return None


def _nested_problem(body: dict[str, Any]) -> str | None:
    for name, fields in _NESTED.items():
        if isinstance(body.get(name), dict):
            problem = _field_problem(name, body[name], fields)
            if problem:
                return problem
    for name, fields in _ITEMS.items():
        for item in body.get(name) or []:
            problem = _field_problem(name + "[]", item, fields)
            if problem:
                return problem
    data = body.get("channelData")
    for name in ("team", "channel", "tenant"):
        if isinstance(data, dict) and isinstance(data.get(name), dict):
            problem = _field_problem(f"channelData.{name}", data[name], _TEAM_FIELDS)
            if problem:
                return problem
    return None


def _url_problem(url: object) -> str | None:
    if not isinstance(url, str) or not url.strip():
        return "The activity has no serviceUrl."
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "The activity's serviceUrl is not an absolute http(s) URL."
    return None


def shape_problem(body: dict[str, Any]) -> str | None:
    """The first thing wrong with the activity's shape, in words for the caller, or None."""
    if not isinstance(body.get("type"), str) or not body["type"].strip():
        return "The activity has no type."
    for name in _OBJECTS:
        if name in body and body[name] is not None and not isinstance(body[name], dict):
            return f"The activity's {name} must be an object."
    for name in _STRINGS:
        if name in body and body[name] is not None and not isinstance(body[name], str):
            return f"The activity's {name} must be a string."
    for name in _LISTS:
        value = body.get(name)
        if value is not None and (not isinstance(value, list)
                                  or not all(isinstance(item, dict) for item in value)):
            return f"The activity's {name} must be a list of objects."
    conversation = body.get("conversation")
    if not isinstance(conversation, dict) or not isinstance(conversation.get("id"), str) \
            or not conversation["id"].split(";messageid=")[0].strip():
        return "The activity has no conversation.id."  # a channel thread's id has one too
    problem = _nested_problem(body)
    if problem:
        return problem
    if not isinstance(body.get("channelId"), str) or not body["channelId"].strip():
        return "The activity has no channelId."
    return _url_problem(body.get("serviceUrl"))


def _matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


class ServiceUrlPolicy:
    """Which connectors this bot answers. `refusal(url)` is None for an allowed URL."""

    def __init__(self, anonymous: bool, hosts: tuple[str, ...]) -> None:
        self.anonymous = anonymous
        self.hosts = hosts

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceUrlPolicy:
        return cls(settings.anonymous, settings.cloud.service_url_hosts)

    def refusal(self, url: str) -> str | None:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        if is_loopback(host):
            return None
        if self.anonymous:
            return ("Anonymous local mode only answers a connector on this machine "
                    "(a loopback serviceUrl).")
        if parts.scheme != "https":
            return "The serviceUrl must use https."
        if not any(_matches(host, pattern) for pattern in self.hosts):
            return "The serviceUrl's host is not a Bot Framework connector of this cloud."
        return None
