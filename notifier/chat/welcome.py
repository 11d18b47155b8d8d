"""What the bot says when it arrives in a conversation: one welcome per conversation, ever.

Each scope gets a text that is true there: what HeatWatch watches (the rules' quantities:
temperature, humidity, ...; `Watching`, derived from the rules in force when the welcome is
queued), how to talk to the bot (personal chat: just type; group chat and channel: @mention
HeatWatch, since the bot only hears @mentions there) and whether alerts come here by default
(personal chats and a team's alert channel do when a rule has no `targets`, i.e. alerts the
default audience; group chats and other channels only with `subscribe` or a rule naming them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from notifier.monitoring.rules import Rule
from storage.models import Scope


@dataclass(frozen=True)
class Watching:
    """What the rules watch ("temperature", "humidity"), and whether any rule alerts the
    default audience (a rule without `targets`)."""

    quantities: tuple[str, ...] = ()
    default_audience: bool = True


def watching(rules: Iterable[Rule]) -> Watching:
    """A rule's quantity is its field, or its measurement when the field is InfluxDB's
    customary "value" (`measurement = "temperature"`, `field = "value"`); a `dew_point` rule
    watches the dew point, whatever it reads."""
    quantities: list[str] = []
    default = False
    for rule in rules:
        quantity = ("dew point" if rule.dew_point is not None
                    else (rule.field if rule.field != "value" else rule.measurement)
                    .replace("_", " "))
        if quantity not in quantities:
            quantities.append(quantity)
        default = default or not rule.targets
    return Watching(tuple(quantities), default or not quantities)


def _listed(words: tuple[str, ...]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def greeting(what: Watching) -> str:
    if not what.quantities:
        return "Hi, I'm **HeatWatch**. I bring your monitoring's alerts to Teams."
    return (f"Hi, I'm **HeatWatch**. I watch the {_listed(what.quantities)} readings of your "
            "rooms and post an alert when one crosses its threshold.")


_BODY = {
    Scope.PERSONAL: (
        " I'll post alerts here in our chat as soon as something needs attention, so you don't "
        "have to ask. Type **help** to see what I can do."),
    Scope.GROUP_CHAT: (
        " Alerts don't come to group chats by default: to get them here, @mention me with "
        "**subscribe** (**@HeatWatch subscribe**), or name this chat in a rule's `targets`. "
        "Here I only hear messages that @mention me: **@HeatWatch help** shows what I can do."),
    Scope.CHANNEL: (
        " In this team I post alerts to its alert channel (the one chosen when I was added, "
        "else General); another channel gets them after **@HeatWatch subscribe** there, or when "
        "a rule's `targets` name it. In channels I only hear messages that @mention me: "
        "**@HeatWatch help** shows what I can do."),
}
# Every rule names its `targets`: nothing comes to a personal chat or an alert channel unless
# a rule names it or someone subscribes there.
_TARGETED_BODY = {
    Scope.PERSONAL: (
        " Alerts go to the conversations the rules name; to get them here too, type "
        "**subscribe**. Type **help** to see what I can do."),
    Scope.GROUP_CHAT: _BODY[Scope.GROUP_CHAT],
    Scope.CHANNEL: (
        " Alerts go to the conversations the rules name; to get them in a channel too, "
        "@mention me there with **subscribe**. In channels I only hear messages that @mention "
        "me: **@HeatWatch help** shows what I can do."),
}
_ALERTS_COMMAND = {Scope.PERSONAL: "type **alerts**", Scope.GROUP_CHAT: "**@HeatWatch alerts**",
                   Scope.CHANNEL: "**@HeatWatch alerts**"}
TEMPERATURE = Watching(("temperature",))  # the shipped rules.toml


def welcome_text(scope: Scope, firing: int = 0, what: Watching = TEMPERATURE) -> str:
    """The welcome for a conversation of `scope` under rules watching `what`; `firing` open
    alerts are mentioned, since alerts that fired before the bot arrived are not posted
    again."""
    text = greeting(what) + (_BODY if what.default_audience else _TARGETED_BODY)[scope]
    if not firing:
        return text
    return (text + f"\n\nRight now {firing} alert{'s are' if firing > 1 else ' is'} firing: "
            f"{_ALERTS_COMMAND[scope]} to see them.")


WELCOME = welcome_text(Scope.PERSONAL)  # a personal chat's, with the shipped rules.toml
