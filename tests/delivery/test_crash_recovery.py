"""kill -9 in the middle of a fan-out: the restarted process sends what was pending, nothing the
connector already accepted is sent again, and the alert does not fire twice."""

from __future__ import annotations

import json
import signal
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from tests.servers.influx import ADMIN, ADMIN_PASSWORD, InfluxServer, point
from tests.standins.connector import ConnectorStandIn
from tests.support.process import AppProcess
from tests.support.teams import PERSONAL, load_activity
from tests.support.waiting import wait_until

PEOPLE = 5


def post(url: str, activity: dict) -> int:
    request = urllib.request.Request(url + "/api/messages", data=json.dumps(activity).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def test_kill_9_mid_fan_out_resumes_without_loss_or_resend(
    tmp_path: Path, influxdb: InfluxServer, connector: ConnectorStandIn
) -> None:
    influxdb.create_database("crash")
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "hot"\nmeasurement = "temperature"\ncrit_above = 30.0\n')
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/hw.db", "RULES_FILE": str(rules),
           "INFLUX_URL": influxdb.url, "INFLUX_DATABASE": "crash", "INFLUX_USERNAME": ADMIN,
           "INFLUX_PASSWORD": ADMIN_PASSWORD, "POLL_INTERVAL_SECONDS": "1",
           "DELIVERY_CONCURRENCY": "1"}  # one send at a time: a clear "done so far"
    first = AppProcess(env, tmp_path).start()
    people = [f"{PERSONAL}-{i}" for i in range(PEOPLE)]
    for person in people:
        activity = load_activity("personal_bot_added", connector.url)
        activity["conversation"]["id"] = person
        assert post(first.url, activity) == 200
    wait_until(lambda: len(connector.sent()) == PEOPLE)  # the welcomes went out
    connector.latency = 1.0

    arrivals_before = connector.arrivals
    influxdb.write("crash", [point("r1", "s1", 35.0, int(datetime.now(UTC).timestamp() * 1000))])
    wait_until(lambda: len(connector.cards()) == 2 and connector.arrivals >= arrivals_before + 3)
    first.signal(signal.SIGKILL)  # the third card is in flight
    accepted_before_kill = {r.conversation_id for r in connector.cards()}

    connector.latency = 0.0
    second = AppProcess(env, tmp_path).start()
    try:
        wait_until(lambda: {r.conversation_id for r in connector.cards()} == set(people))
        polls = second.polls()
        wait_until(lambda: second.polls() >= polls + 2, what="two more polls")  # no new alert
    finally:
        second.signal()

    cards = {person: len(connector.cards(person)) for person in people}
    for person in accepted_before_kill:
        assert cards[person] == 1, f"{person} got its card again after the restart"
    in_flight = [p for p in people if p not in accepted_before_kill and cards[p] > 1]
    assert len(in_flight) <= 1, cards  # at most the one send in flight at the kill
    assert all(count >= 1 for count in cards.values()), cards
    assert "Resuming" in second.output
