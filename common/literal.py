"""The one boundary for text from outside: what a sender or a Teams user supplies (labels,
annotations, values, check names and messages, rule and alert names from the receivers, the
display names of people, room and sensor tags, what someone typed) is shown as literal text.

Everything HeatWatch sends renders a markdown subset: Adaptive Card `TextBlock.text`,
`Fact.title` and `Fact.value` ("Markdown is supported in Adaptive Card Textblock field, and
Fact.Title and Fact.Value"; bold, italic, lists and `[Title](url)` links, HTML is not:
https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-format),
and bot text messages sent with `textFormat: markdown`, where Teams also takes "a subset of
markdown and xml or HTML formatting tags" and `<at>…</at>` mentions
(https://learn.microsoft.com/microsoftteams/platform/bots/how-to/format-your-bot-messages).
Backslash escapes are not documented for either and do not hold in every Teams client, and
HTML entities are shown as typed on a card. So `inert` does not escape: it takes away the
characters every one of those syntaxes needs, in a way that reads the same to a person:

- `<` `>` `[` `]` become their fullwidth forms `＜ ＞ ［ ］`: no HTML tag, no `<at>` mention,
  no `<url>` autolink and no `[text](url)` or `[text][ref]` link can be written without them;
- `*` `~` and the backtick become `∗ ∼ ˋ` (no bold, italic, strike-through or code); an `_`
  that is not inside a word becomes `＿` (CommonMark never makes emphasis of an `_` between two
  letters or digits, so `node_exporter` stays as typed);
- a word joiner (U+2060, invisible, not whitespace) goes after a line's leading spaces when the
  line starts like a block (`#` heading, `- ` or `1. ` list, `---` rule), after the `:` of a
  URL scheme (`https:`, `mailto:`, `javascript:`, ...) and of any `://`,
  after `www`, after the `&` of an HTML entity, between `{{` (Adaptive Cards' `{{DATE()}}`), and
  after the dot of a domain followed by a path (`evil.example/phish`): Teams' autolinking of
  raw URLs needs the scheme, `www.` or a domain with a path written together. A bare host
  name (`rack-3.dc1.example`) is left as it is, so that on-call can copy it.

The same text put through `inert` twice is unchanged the second time. Values are made literal
where they are rendered, never where they are stored: labels still route and match, and the
audit trail keeps what was said. This module is in `common/`, the lowest layer, so that cards
(`notifier/delivery`), chat replies (`notifier/chat`) and the sender's mentions (`bots/`) share
the one rule; it is pure (no I/O, no settings).

Links come only from URL fields (generatorURL, runbook_url, dashboardURL, ...), as buttons:
`web_link` keeps an http(s) URL of sane length, and `host_of` names where it goes.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

WORD_JOINER = "\u2060"
ELLIPSIS = "…"
URL_LIMIT = 2048  # characters of a link kept for a button; a longer one is dropped

_SWAPS = str.maketrans({"<": "＜", ">": "＞", "[": "［", "]": "］", "*": "∗", "~": "∼",
                        "`": "ˋ"})
_LONE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")  # not between two letters/digits
_BLOCK_START = re.compile(r"(?m)^([ \t]*)(?=#|[-+=](?:\s|$)|[-=]{2}|\d+[.)](?:\s|$))")
_SCHEME = re.compile(r"(?i)\b(?:https?|ftp|file|mailto|tel|sip|javascript|vbscript|data):"
                     r"(?!" + WORD_JOINER + ")")
_SLASHES = re.compile(r"(?<=:)(?=//)")
_WWW = re.compile(r"(?i)(?<=\bwww)(?=\.)")
_ENTITY = re.compile(r"&(?=#?\w+;)")
_BRACES = re.compile(r"\{(?=\{)")
_DOMAIN_PATH = re.compile(r"(?<=[\w-]\.)(?=[A-Za-z][\w-]*/)")


def inert(text: str) -> str:
    """`text` as literal text wherever HeatWatch shows it (a card or a text message)."""
    if not text:
        return ""
    text = _LONE_UNDERSCORE.sub("＿", text.translate(_SWAPS))
    text = _BLOCK_START.sub(lambda m: m.group(1) + WORD_JOINER, text)
    text = _SCHEME.sub(lambda m: m.group(0) + WORD_JOINER, text)
    text = _SLASHES.sub(WORD_JOINER, text)
    text = _WWW.sub(WORD_JOINER, text)
    text = _ENTITY.sub("&" + WORD_JOINER, text)
    text = _BRACES.sub("{" + WORD_JOINER, text)
    return _DOMAIN_PATH.sub(WORD_JOINER, text)


def clip(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, saying with an ellipsis that it was cut."""
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[:max(limit - 1, 0)].rstrip() + ELLIPSIS


def shown(value: object, limit: int) -> str:
    """A value from outside, clipped and made literal (clipped first, so the cut never splits
    what `inert` inserted)."""
    return inert(clip(str(value), limit))


def more(shown_count: int, total: int, what: str) -> str:
    """ "and 9,990 more alerts" when a list was cut; else empty."""
    rest = total - shown_count
    return f"and {rest:,} more {what}" if rest > 0 else ""


def web_link(value: str) -> str:
    """An http(s) URL with a host, fit for a button (`Action.OpenUrl`), else empty."""
    if not value or len(value) > URL_LIMIT or any(c.isspace() for c in value):
        return ""
    try:
        parsed = urlparse(value)
        host = parsed.hostname
    except ValueError:
        return ""
    return value if parsed.scheme in ("http", "https") and host else ""


def host_of(url: str) -> str:
    """Where a link goes, for its button's title: "am.example.com" (with a port if any)."""
    try:
        parsed = urlparse(url)
        host = parsed.hostname or ""
        port = parsed.port
    except ValueError:
        return ""
    return f"{host}:{port}" if port else host
