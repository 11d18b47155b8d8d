"""The size budget of every message HeatWatch sends: a card or a text stays under
`MESSAGE_BUDGET` whatever its input.

Teams refuses a bot message over its size limit with 413 `MessageSizeTooBig`, and the limit
counts "the entire message payload encoded as UTF-16"
(https://learn.microsoft.com/microsoftteams/platform/bots/how-to/format-your-bot-messages:
100 KB now, 40 KB until 2025; bots report 413s for ~70 KB of JSON). The budget is 28,000
characters of the message's JSON with every non-ASCII character escaped (`\\uXXXX`, six
characters), which is at most 56 KB in UTF-16: well inside either reading of the limit.

The renderers keep their own lists short ("and N more") and clip sender text; `fit_card` and
`fit_text` are the final check where a card or a text becomes a message (`cards.alert_card`,
`cards.text_activity`, the chat commands' cards and the bot's in-turn replies). Over budget,
they cut step by step, each step only if still needed: long texts clipped (1,000, then 300,
then 120 characters), the chart dropped, fact lists cut to 10, then 5 ("and N more"), and at
last the card is only its title, a line saying it was cut, and its buttons. One log line per
message cut.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from common.literal import ELLIPSIS, clip, more
from common.wire import CardJson as CardJson  # the one name of Adaptive Card JSON

log = logging.getLogger(__name__)

MESSAGE_BUDGET = 28_000  # characters of a message's JSON (ASCII-escaped): see above
ENVELOPE = 2_000  # what the activity adds around a card (summary, ids, mentions)
CARD_BUDGET = MESSAGE_BUDGET - ENVELOPE
TOO_LARGE = "Some of this was cut: it was too large for one Teams message."


def size_of(value: Any) -> int:
    """The JSON size that counts against the budget (non-ASCII escaped)."""
    return len(json.dumps(value))


def _texts(node: Any) -> Iterator[tuple[CardJson, str]]:
    """Every (element, key) holding shown text: TextBlock `text`, Fact `title` and `value`."""
    if isinstance(node, dict):
        if node.get("type") == "TextBlock" and isinstance(node.get("text"), str):
            yield node, "text"
        if node.get("type") == "FactSet":
            for fact in node.get("facts") or []:
                if isinstance(fact, dict):
                    yield from ((fact, key) for key in ("title", "value")
                                if isinstance(fact.get(key), str))
        for value in node.values():
            if isinstance(value, dict | list):
                yield from _texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _texts(item)


def _clip_texts(limit: int) -> Callable[[CardJson], None]:
    def step(card: CardJson) -> None:
        for element, key in _texts(card):
            if len(element[key]) > limit:
                element[key] = clip(element[key], limit)
    return step


def _drop_charts(card: CardJson) -> None:
    def keep(items: list[Any]) -> list[Any]:
        return [item for item in items if not (isinstance(item, dict) and str(
            item.get("type", "")).startswith("Chart."))]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, list):
                    node[key] = keep(value)
                walk(node[key])
        elif isinstance(node, list):
            for item in node:
                walk(item)
    walk(card)


def _cut_facts(limit: int) -> Callable[[CardJson], None]:
    def step(card: CardJson) -> None:
        def walk(node: Any) -> None:
            if isinstance(node, dict):
                facts = node.get("facts")
                if node.get("type") == "FactSet" and isinstance(facts, list) \
                        and len(facts) > limit:
                    node["facts"] = [*facts[:limit - 1], {"title": ELLIPSIS, "value": more(
                        limit - 1, len(facts), "lines")}]
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)
        walk(card)
    return step


def _bare(card: CardJson) -> None:
    """The last resort: the title, a line saying it was cut, and the buttons."""
    title = next((element[key] for element, key in _texts(card.get("body"))), "HeatWatch")
    card["body"] = [{"type": "TextBlock", "text": clip(title, 200), "weight": "Bolder",
                     "wrap": True},
                    {"type": "TextBlock", "text": TOO_LARGE, "wrap": True, "isSubtle": True}]
    actions = [a for a in card.get("actions") or [] if isinstance(a, dict)]
    while actions and size_of({**card, "actions": actions}) > CARD_BUDGET:
        actions.pop()
    card["actions"] = actions


_STEPS: tuple[Callable[[CardJson], None], ...] = (
    _clip_texts(1000), _clip_texts(300), _drop_charts, _cut_facts(10), _clip_texts(120),
    _cut_facts(5), _bare)


def fit_card(card: CardJson, budget: int = CARD_BUDGET) -> CardJson:
    """The card, cut until its JSON is within `budget` (unchanged when it already is)."""
    before = size_of(card)
    if before <= budget:
        return card
    card = copy.deepcopy(card)
    for step in _STEPS:
        step(card)
        if size_of(card) <= budget:
            break
    if not any(element.get("text") == TOO_LARGE for element, _ in _texts(card)):
        body = card.get("body")
        if isinstance(body, list):
            body.append({"type": "TextBlock", "text": TOO_LARGE, "wrap": True,
                         "isSubtle": True, "size": "Small"})
    log.warning("A card of %d characters was cut to %d to fit Teams' message size",
                before, size_of(card))
    return card


def fit_text(text: str, budget: int = MESSAGE_BUDGET - ENVELOPE) -> str:
    """The text, cut (with a line saying so) until its JSON is within `budget`."""
    before = size_of(text)
    if before <= budget:
        return text
    note = "\n\n" + TOO_LARGE
    keep = len(text)
    while keep > 0 and size_of(text[:keep] + ELLIPSIS + note) > budget:
        # shrink by the share that is over, at least a little every time
        keep = min(keep - 1, int(keep * budget / size_of(text[:keep] + note)))
    cut = text[:max(keep, 0)].rstrip() + ELLIPSIS + note
    log.warning("A text of %d characters was cut to %d to fit Teams' message size",
                before, size_of(cut))
    return cut
