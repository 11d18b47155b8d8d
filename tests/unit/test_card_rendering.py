"""Incident cards (notifier/delivery/cards.py) rendered directly from stored documents: the
structure and words people rely on (style, title, facts, buttons), not the full JSON, which
changes as the cards do."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from notifier.alerts.events import EventKind
from notifier.alerts.record import AlertRecord, IncidentSnapshot
from notifier.delivery import cards
from notifier.delivery.view import IncidentView
from storage.alerts import Snooze
from tests.unit.clock import START

SINCE = START.isoformat()


def document(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "incident": True, "kind": "fired", "source": "influxdb", "rule": "hot",
        "series": {"room": "r1"}, "unit": "°C", "severity": "warn",
        "description": "Server room air", "since": SINCE, "at": SINCE, "members": 1,
        "value": 28.5, "threshold": 27.0, "links": {}, "counts": {"warn": 1},
        "hottest": [{"label": "s1", "tags": {"room": "r1", "sensor": "s1"}, "value": 28.5,
                     "threshold": 27.0, "severity": "warn", "no_data": False,
                     "trend": None}]}
    doc.update(overrides)
    return doc


def record(acknowledged_by: str | None = None, **overrides: Any) -> AlertRecord:
    return AlertRecord(alert_id="0123456789abcdef", rule="hot",
                       incident=IncidentSnapshot.from_json(document(**overrides)),
                       acknowledged_by=acknowledged_by,
                       acknowledged_at=START + timedelta(minutes=5) if acknowledged_by else None)


def render(alert: AlertRecord, **kwargs: Any) -> dict[str, Any]:
    """The card as one conversation sees it (`snooze=`, `chart=` as the view holds them)."""
    return cards.alert_card(IncidentView(alert, **kwargs), now=START + timedelta(minutes=12))


def texts(card: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            if "text" in item:
                found.append(item["text"])
            found.extend(f"{f['title']}={f['value']}" for f in item.get("facts", []))
            walk(item.get("items", []))
            for column in item.get("columns", []):
                walk(column.get("items", []))

    walk(card["body"])
    return found


def facts(card: dict[str, Any]) -> dict[str, str]:
    return {f["title"]: f["value"] for block in card["body"] if block["type"] == "FactSet"
            for f in block["facts"]}


def verbs(card: dict[str, Any]) -> list[str]:
    return [a.get("verb", a["type"]) for a in card.get("actions", [])]


def test_an_open_warning_is_an_adaptive_card_1_5_in_the_warning_style() -> None:
    card = render(record())
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    header = card["body"][0]
    assert header["type"] == "Container" and header["style"] == "warning"
    assert any("Warning" in t and "hot" in t for t in texts(card))
    assert "Server room air" in texts(card)


def test_a_critical_incident_uses_the_attention_style_and_says_critical() -> None:
    card = render(record(severity="crit", value=33.0, threshold=32.0))
    assert card["body"][0]["style"] == "attention"
    assert any("CRITICAL" in t for t in texts(card))


def test_one_series_shows_its_tags_value_threshold_and_duration() -> None:
    shown = facts(render(record()))
    assert shown["Room"] == "r1" and shown["Sensor"] == "s1"
    assert shown["Value"] == "28.5 °C" and shown["Threshold"] == "27 °C"
    assert shown["Duration"] == "12 min at {{TIME(2026-11-21T10:12:00Z)}}"  # true when said
    assert shown["Since"] == "{{DATE(2026-11-21T10:00:00Z, SHORT)}} {{TIME(2026-11-21T10:00:00Z)}}"


def test_an_open_card_offers_acknowledge_and_the_snooze_choices() -> None:
    card = render(record())
    assert verbs(card) == ["ack", "snooze", "snooze"]
    assert [a["data"].get("hours") for a in card["actions"]] == [None, 1, 24]
    assert all(a["data"]["alertId"] == "0123456789abcdef" for a in card["actions"])


def test_an_acknowledged_card_says_who_and_offers_the_undo() -> None:
    card = render(record(acknowledged_by="Megan Bowen"))
    assert ("Acknowledged by Megan Bowen at {{DATE(2026-11-21T10:05:00Z, SHORT)}} "
            "{{TIME(2026-11-21T10:05:00Z)}}") in texts(card)  # no "ago" that freezes
    assert verbs(card)[0] == "unack"


def test_a_snoozed_card_offers_only_the_undo_and_says_until_when() -> None:
    snooze = Snooze(until=START + timedelta(hours=1), by_name="Alex Wilber", severity="warn")
    card = render(record(), snooze=snooze)
    assert verbs(card) == ["ack", "unsnooze"]
    assert any(t.startswith("Snoozed here by Alex Wilber until") for t in texts(card))
    assert not any("breaks through" in t for t in texts(card))


def test_a_critical_breaks_through_a_snoozed_warning_and_the_card_says_so() -> None:
    snooze = Snooze(until=START + timedelta(hours=1), by_name=None, severity="warn")
    card = render(record(severity="crit"), snooze=snooze)
    assert any("breaks through the snooze" in t for t in texts(card))


def test_a_resolved_card_is_green_with_its_end_and_no_buttons() -> None:
    ended = (START + timedelta(minutes=45)).isoformat()
    card = render(record(kind="resolved", severity=None, ended_at=ended, at=ended))
    assert card["body"][0]["style"] == "good"
    assert any(t.startswith("Resolved: hot") for t in texts(card))
    assert facts(card)["Duration"] == "45 min" and "Ended" in facts(card)
    assert "actions" not in card


def test_a_forgotten_incident_says_it_is_no_longer_watched_and_why() -> None:
    ended = (START + timedelta(days=7)).isoformat()
    detail = "rack-3: no data for 7 d; not watched until data comes again"
    alert = record(kind="forgotten", severity=None, ended_at=ended, at=ended, detail=detail)
    card = render(alert)
    assert card["body"][0]["style"] == "emphasis"  # not the green of a resolution
    assert any(t.startswith("No longer watched: hot") for t in texts(card))
    assert detail in texts(card) and "actions" not in card
    assert cards.resolved_text(alert.incident) == (
        f"No longer watched: **hot** (room r1): {detail}.")


def test_an_incident_of_several_series_shows_counts_and_the_hottest() -> None:
    hottest = [{"label": "s2", "tags": {"room": "r1", "sensor": "s2"}, "value": 33.0,
                "threshold": 32.0, "severity": "crit", "trend": 0.5,
                "at": "2026-12-05T12:03:40+00:00"},
               {"label": "s1", "tags": {"room": "r1", "sensor": "s1"}, "value": 28.0,
                "threshold": 27.0, "severity": "warn", "trend": 0.0}]
    card = render(record(severity="crit", members=3, counts={"crit": 1, "warn": 1, "ok": 1},
                         hottest=hottest, peak=33.4, peak_label="s2"))
    assert any(b["type"] == "ColumnSet" for b in card["body"])
    shown = facts(card)
    assert shown["Peak"] == "33.4 °C (s2)" and "Value" not in shown
    # Each value says when it was read, in the reader's own time (a card is not redrawn
    # at every reading); a value without its time says none.
    assert shown["s2 ↑"].startswith("33 °C at {{TIME(2026-12-05T12:03:40Z)}} · critical")
    assert shown["s1 →"].startswith("28 °C · warning")
    assert "Hottest" in texts(card) and "Hottest now" not in texts(card)


def test_links_become_open_url_buttons_with_their_titles() -> None:
    card = render(record(links={"runbook": "https://wiki.example.com/runbooks/cooling"}))
    [link] = [a for a in card["actions"] if a["type"] == "Action.OpenUrl"]
    assert link["title"] == "Runbook (wiki.example.com)"  # says where it goes
    assert link["url"] == "https://wiki.example.com/runbooks/cooling"


def test_a_forecast_and_a_chart_are_shown_on_an_open_card() -> None:
    chart = {"type": "Chart.Line", "data": [], "fallback": "drop"}
    card = render(record(forecast="rising 0.4 °C/min, critical in ~9 min"), chart=chart)
    assert "rising 0.4 °C/min, critical in ~9 min" in texts(card)
    assert chart in card["body"]


def test_an_alertmanager_incident_offers_silences() -> None:
    card = render(record(source="alertmanager"))
    action_sets = [b for b in card["body"] if b["type"] == "ActionSet"]
    assert [a["verb"] for s in action_sets for a in s["actions"]] == ["silence", "silence"]


def test_the_card_travels_as_an_adaptive_card_attachment() -> None:
    activity = cards.card_activity(render(record()), "hot fired")
    [attachment] = activity["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert activity["summary"] == "hot fired"


@pytest.mark.parametrize("trend,arrow", [(None, ""), (0.0, "→"), (0.04, "→"), (0.5, "↑"),
                                         (-0.5, "↓")])
def test_trend_arrows(trend: float | None, arrow: str) -> None:
    assert cards.trend_arrow(trend) == arrow


def test_texts_say_reminders_and_resolutions_in_words() -> None:
    event = IncidentSnapshot.from_json(document())
    assert cards.reminder_text(event).startswith("Still firing:")
    assert "room r1" in cards.reminder_text(event)
    assert cards.resolved_text(replace(event, kind=EventKind.RESOLVED)).startswith("Resolved:")
    assert cards.resolved_text(replace(event, kind=EventKind.SOURCE_UP)) == \
        "The temperature data source is back."
