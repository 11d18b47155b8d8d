"""What the bot says when it arrives in a conversation: one welcome per conversation, ever.

Each scope gets a text that is true there: how to talk to the bot (personal chat: just type;
group chat and channel: @mention HeatWatch, since the bot only hears @mentions there) and
whether alerts come here by default (personal chats and a team's alert channel do; group chats
and other channels only with `subscribe` or a rule naming them).
"""

from __future__ import annotations

from storage.models import Scope

GREETING = "Hi, I'm **HeatWatch**. I watch the server-room temperatures."
_BODY = {
    Scope.PERSONAL: (
        " I'll post alerts here in our chat as soon as something runs hot, so you don't have to "
        "ask. Type **help** to see what I can do."),
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
_ALERTS_COMMAND = {Scope.PERSONAL: "type **alerts**", Scope.GROUP_CHAT: "**@HeatWatch alerts**",
                   Scope.CHANNEL: "**@HeatWatch alerts**"}
WELCOME = GREETING + _BODY[Scope.PERSONAL]


def welcome_text(scope: Scope, firing: int = 0) -> str:
    """The welcome for a conversation of `scope`; `firing` open alerts are mentioned, since
    alerts that fired before the bot arrived are not posted again."""
    text = GREETING + _BODY[scope]
    if not firing:
        return text
    return (text + f"\n\nRight now {firing} alert{'s are' if firing > 1 else ' is'} firing: "
            f"{_ALERTS_COMMAND[scope]} to see them.")
