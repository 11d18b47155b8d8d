"""The boundary for text from outside (`common.literal`) and the message budget
(`notifier.delivery.budget`), as pure functions: what they make of hostile and huge input.

`rendered_markup` models what Teams' renderers act on (the markdown subset of Adaptive Card
TextBlocks and Facts, and a text message's markdown, HTML and `<at>` mentions); the end-to-end
probes in tests/inbound/test_hostile_input.py use it on what the connector stand-in receives.
"""

from __future__ import annotations

import json
import re

import pytest

from common.literal import ELLIPSIS, WORD_JOINER, clip, host_of, inert, more, shown, web_link
from notifier.delivery.budget import CARD_BUDGET, MESSAGE_BUDGET, TOO_LARGE, fit_card, fit_text

# What a markdown / HTML renderer would turn into a link, a mention or markup.
MARKUP = [
    ("markdown link", re.compile(r"\[[^\]]*\]\s*[\(\[]")),
    ("autolink", re.compile(r"<(?:https?|mailto|javascript):", re.I)),
    ("raw URL", re.compile(r"\b(?:https?|ftp|mailto|javascript|data|tel):[/\w]|://", re.I)),
    ("www link", re.compile(r"\bwww\.", re.I)),
    ("domain with path", re.compile(r"\b[\w-]+\.[A-Za-z][\w-]*/")),
    ("HTML tag", re.compile(r"</?[A-Za-z][^>]*>")),
    ("HTML entity", re.compile(r"&#?\w+;")),
    ("bold or italic", re.compile(r"(\*\*|__)\S|(?<![\w])[*_]\S")),
    ("strike-through", re.compile(r"~~")),
    ("code", re.compile(r"`")),
    ("block syntax", re.compile(r"(?m)^[ \t]*(?:#|>|[-+*] |\d+[.)] |[-=]{2})")),
    ("card function", re.compile(r"\{\{")),
]

HOSTILE = [
    "[Click here to verify](https://evil.example/phish)",
    "[Click][1]\n\n[1]: https://evil.example/phish",
    "go to https://evil.example/phish now",
    "see www.evil.example or evil.example/phish",
    "<https://evil.example/phish>",
    '<a href="https://evil.example/phish">verify</a>',
    "<b>bold</b> <img src=x onerror=alert(1)> <script>alert(1)</script>",
    "<at>Someone</at> please look",
    "**urgent** _now_ ~~never~~ `rm -rf /`",
    "# Heading\n> quote\n- item\n1. first",
    "&lt;a href=x&gt;click&lt;/a&gt; &#60;b&#62;",
    "{{DATE(2017-02-14T06:00:00Z, SHORT)}}",
    "javascript:alert(1) mailto:boss@example.com",
    "---\nRule\n===",
]


def rendered_markup(text: str) -> list[str]:
    """The kinds of markup a Teams renderer would find in `text`."""
    return [name for name, pattern in MARKUP if pattern.search(text)]


@pytest.mark.parametrize("text", HOSTILE)
def test_inert_leaves_no_link_mention_or_markup(text: str) -> None:
    assert rendered_markup(text), "the probe itself must be markup"
    made = inert(text)
    assert rendered_markup(made) == [], made
    assert inert(made) == made  # idempotent: shown twice is shown once


def test_inert_reads_the_same_to_a_person() -> None:
    made = inert("[FIRING:2] RoomTemperatureHigh <b>room</b> https://x.example/a")
    visible = made.replace(WORD_JOINER, "")
    assert visible == "［FIRING:2］ RoomTemperatureHigh ＜b＞room＜/b＞ https://x.example/a"


@pytest.mark.parametrize("text", [
    "rack-3-inlet:9100", "node_exporter", "server-room-1", "10.0.0.17:9100",
    "rack-3.dc1.example", "Inlet temperature of rack 3 is 33.1 °C (above 32 °C).",
    "Teamname › General"])
def test_ordinary_text_is_left_as_it_is(text: str) -> None:
    assert inert(text) == text


def test_clip_cuts_with_an_ellipsis_and_leaves_short_text() -> None:
    assert clip("  short  ", 10) == "short"
    assert clip("x" * 64 * 1024, 100) == "x" * 99 + ELLIPSIS
    assert len(clip("word " * 100, 50)) <= 50
    assert shown("[a](https://e.example/p)" * 1000, 30).endswith(ELLIPSIS)
    assert len(shown("<" * 5000, 30)) == 30


def test_more_says_how_many_were_left_out() -> None:
    assert more(10, 10_000, "alerts") == "and 9,990 more alerts"
    assert more(10, 10, "alerts") == ""


def test_only_http_links_of_sane_length_are_buttons() -> None:
    assert web_link("https://am.example.com/#/alerts") == "https://am.example.com/#/alerts"
    assert web_link("http://prometheus:9090/graph?g0.expr=x") != ""
    for bad in ("javascript:alert(1)", "data:text/html,x", "ftp://x.example/", "https://",
                "//evil.example/x", "https://e.example/" + "a" * 5000, "not a url",
                "https://e.example/a b", "http://[::1"):
        assert web_link(bad) == "", bad
    assert host_of("http://alertmanager.example.com:9093/#/x") == "alertmanager.example.com:9093"
    assert host_of("https://runbooks.example.com/room") == "runbooks.example.com"


def _card(facts: int, value: str) -> dict:
    return {"type": "AdaptiveCard", "version": "1.5", "body": [
        {"type": "TextBlock", "text": "CRITICAL: rule"},
        {"type": "FactSet", "facts": [{"title": f"L{i}", "value": value}
                                      for i in range(facts)]},
        {"type": "Chart.Line", "data": [{"x": i, "y": i} for i in range(3000)]}],
        "actions": [{"type": "Action.OpenUrl", "title": "Runbook (e.example)",
                     "url": "https://e.example/"}]}


@pytest.mark.parametrize(("facts", "value"), [
    (1, "x" * 64 * 1024), (1000, "value"), (1000, "é" * 300), (3, "short")])
def test_a_card_is_cut_to_the_budget(facts: int, value: str) -> None:
    card = _card(facts, value)
    fitted = fit_card(card)
    assert len(json.dumps(fitted)) <= CARD_BUDGET
    assert fitted["body"][0]["text"] == "CRITICAL: rule"  # the title stays
    assert fitted["actions"] == card["actions"]  # and the buttons
    if len(json.dumps(card)) > CARD_BUDGET:
        assert TOO_LARGE in json.dumps(fitted)
        assert card == _card(facts, value)  # the input is not changed


def test_a_card_within_the_budget_is_unchanged() -> None:
    card = {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "ok"}]}
    assert fit_card(card) is card


def test_even_a_card_of_only_huge_parts_fits() -> None:
    card = {"type": "AdaptiveCard", "body": [
        {"type": "Container", "items": [{"type": "TextBlock", "text": "t" * 100}] * 500}],
        "actions": [{"type": "Action.OpenUrl", "title": "x" * 1000, "url": "https://e/"}] * 50}
    assert len(json.dumps(fit_card(card))) <= CARD_BUDGET


@pytest.mark.parametrize("text", ["a" * 100_000, "é" * 30_000, "🔥" * 20_000, "ok"])
def test_a_text_is_cut_to_the_budget(text: str) -> None:
    fitted = fit_text(text)
    assert len(json.dumps(fitted)) <= MESSAGE_BUDGET
    assert fitted == text or (fitted.endswith(TOO_LARGE) and ELLIPSIS in fitted)
