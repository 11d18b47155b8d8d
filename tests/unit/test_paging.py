"""The card's on-call lines (notifier/delivery/paging.py, cards.paging_section): an escalation
step's audit words read back as the page they record, the next step's time, and the rendering
(names literal, the list kept short, within the size budget)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from notifier.alerts.record import AlertRecord, IncidentSnapshot
from notifier.alerts.routing import Escalation, Step
from notifier.delivery import cards
from notifier.delivery.budget import CARD_BUDGET, size_of
from notifier.delivery.paging import (
    NOBODY,
    NextStep,
    OnCall,
    Page,
    Paging,
    first_page,
    next_step,
    read_step,
    step_detail,
    taken_number,
    unreached,
)
from notifier.delivery.view import IncidentView
from storage.audit import AuditEntry
from storage.models import Conversation, Scope, Status
from tests.unit.clock import START

POLICY = Escalation(300.0, ("oncall:dc",), (Step(900.0, ("oncall:dc-2",)),
                                            Step(1800.0, ("team:T",))), 1800.0, "dc-critical")


def entry(detail: str, minutes: int = 5) -> AuditEntry:
    return AuditEntry(action="escalated", at=START + timedelta(minutes=minutes),
                      actor="HeatWatch", alert_id="a1", detail=detail)


@pytest.mark.parametrize("number,policy,step,name,again", [
    (0, POLICY, 1, "dc-critical", 0), (2, POLICY, 3, "dc-critical", 0),
    (4, POLICY, 3, "dc-critical", 3), (0, Escalation(600.0, ("team:T",)), 1, "", 0)])
def test_a_steps_audit_words_read_back_as_its_page(number: int, policy: Escalation, step: int,
                                                   name: str, again: int) -> None:
    detail = step_detail(number, policy, "6 min", ["Megan Bowen", "Contoso › Alerts"])
    page = read_step(entry(detail))
    assert page == Page(step, name, "Megan Bowen, Contoso › Alerts",
                        START + timedelta(minutes=5), again)


def test_the_critical_card_reaching_its_people_is_the_first_page() -> None:
    entry = first_page("a1", ["Adele Vance", "Lee Gu"], START)
    assert (entry.action, entry.detail) == ("paged", "the critical card; told: Adele Vance, "
                                                     "Lee Gu")
    assert read_step(entry) == Page(0, "", "Adele Vance, Lee Gu", START)
    shown = facts(render(Paging(AT, pages=(Page(0, "", "Adele Vance", START),))))
    assert shown["Paged, when critical"].startswith("Adele Vance at {{DATE(")


def test_a_name_that_looks_like_the_words_stays_a_name() -> None:
    told = ["Eve; told: Mallory", "step 9 of x: nobody acknowledged for 1 s"]
    page = read_step(entry(step_detail(1, POLICY, "16 min", told)))
    assert page is not None and page.step == 2 and page.told == ", ".join(told)
    assert read_step(entry(step_detail(0, POLICY, "5 min", []))) == Page(
        1, "dc-critical", NOBODY, START + timedelta(minutes=5))
    assert read_step(AuditEntry(action="acknowledged", at=START, actor="x")) is None


def test_the_next_step_follows_the_last_one_taken_then_repeats_the_last() -> None:
    assert next_step(POLICY, START, -1) == (0, START + timedelta(minutes=5), False)
    assert next_step(POLICY, START, 0) == (1, START + timedelta(minutes=15), False)
    assert next_step(POLICY, START, 2) == (3, START + timedelta(minutes=60), True)
    assert next_step(POLICY, START, 3) == (4, START + timedelta(minutes=90), True)
    assert next_step(Escalation(300.0, ("team:T",)), START, 0) is None
    again = read_step(entry(step_detail(4, POLICY, "90 min", ["x"])))
    assert again is not None and taken_number(again, POLICY) == 4


def record(**event: Any) -> AlertRecord:
    document = {"kind": "fired", "rule": "hot", "series": {"room": "r1"}, "unit": "°C",
                "severity": "crit", "since": START.isoformat(), "value": 33.0, **event}
    return AlertRecord(alert_id="0123456789abcdef", rule="hot",
                       incident=IncidentSnapshot.from_json(document))


def facts(card: dict[str, Any]) -> dict[str, str]:
    return {f["title"]: f["value"] for block in card["body"] if block["type"] == "FactSet"
            for f in block["facts"]}


def render(paging: Paging | None) -> dict[str, Any]:
    return cards.alert_card(IncidentView(record(), paging=paging),
                            now=START + timedelta(minutes=20))


AT = START + timedelta(minutes=20)


def test_the_card_says_who_is_on_call_who_was_paged_by_which_step_and_what_is_next() -> None:
    paging = Paging(AT, (OnCall("dc", "Megan Bowen"), OnCall("dc-2", None)),
                    (Page(1, "dc-critical", "Megan Bowen", START + timedelta(minutes=5)),
                     Page(2, "dc-critical", NOBODY, START + timedelta(minutes=15))),
                    NextStep(3, START + timedelta(minutes=30), False, "a team's alert channel"))
    shown = facts(render(paging))
    assert shown["On call"] == "Megan Bowen (dc), nobody (dc-2) at {{TIME(2026-11-21T10:20:00Z)}}"
    assert shown["Paged, step 1"] == ("Megan Bowen at {{DATE(2026-11-21T10:05:00Z, SHORT)}} "
                                      "{{TIME(2026-11-21T10:05:00Z)}}")
    assert shown["Paged, step 2"].startswith("nobody reachable at ")
    assert shown["Next, step 3"] == ("a team's alert channel at {{DATE(2026-11-21T10:30:00Z, "
                                     "SHORT)}} {{TIME(2026-11-21T10:30:00Z)}}, unless "
                                     "acknowledged")


def test_an_acknowledged_incident_says_the_escalation_stopped() -> None:
    shown = facts(render(Paging(AT, (OnCall("dc", "Megan Bowen"),), stopped=True)))
    assert shown["Escalation"] == "stopped by the acknowledgement"
    assert not any(title.startswith("Next") for title in shown)


def test_no_paging_says_nothing_of_it() -> None:
    assert not any(t.startswith(("On call", "Paged", "Next")) for t in facts(render(None)))
    assert not any(t.startswith("On call") for t in facts(render(Paging(AT))))


def test_names_from_outside_are_literal_and_many_repetitions_stay_short() -> None:
    hostile = "[Click](https://evil.example/x) <at>all</at> " + "x" * 5000
    pages = tuple(Page(3, "dc-critical", hostile, START + timedelta(minutes=m), m)
                  for m in range(2, 50))
    card = render(Paging(AT, (OnCall("dc", hostile),), pages))
    shown = facts(card)
    text = json.dumps(card, ensure_ascii=False)
    assert "[Click]" not in text and "<at>" not in text and "https://evil" not in text
    assert shown["Paged before"] == "43 steps (history lists them)"
    assert [t for t in shown if t.startswith("Paged, ")] == [
        f"Paged, step 3 again ({m})" for m in range(45, 50)]
    assert size_of(card) <= CARD_BUDGET


def chat(person: str, status: Status) -> Conversation:
    return Conversation("t", f"a:{person}", Scope.PERSONAL, "https://smba.example", {}, status,
                        status, None, None, None, person, None, None, START, START)


def test_a_page_installs_only_people_without_a_chat_and_never_undoes_a_block() -> None:
    chats = [chat("A", Status.ACTIVE), chat("b", Status.BLOCKED), chat("c", Status.UNINSTALLED)]
    targets = ["user:a", "user:B", "user:c", "user:d", "team:T", "user:d"]
    assert unreached(targets, chats) == ["c", "d"]
