"""What the bot says when it arrives in a conversation: one welcome per conversation, ever."""

from __future__ import annotations

from storage.models import Scope

WELCOME = (
    "Hi, I'm **HeatWatch**. I watch the server-room temperatures and will post here as soon as "
    "something runs hot, so you don't have to ask. Type **help** to see what I can do."
)


def welcome_text(scope: Scope, firing: int = 0) -> str:
    """The welcome for a conversation of `scope`; `firing` open alerts are mentioned, since
    alerts that fired before the bot arrived are not posted again."""
    if not firing:
        return WELCOME
    return (WELCOME + f"\n\nRight now {firing} alert{'s are' if firing > 1 else ' is'} firing: "
            "type **alerts** to see them.")
