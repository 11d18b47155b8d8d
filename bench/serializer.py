"""Connector serialization benchmark, run by hand:

    .venv/bin/python -m bench.serializer [--sends 300]

CPU time to turn one incident card (a room of five sensors with its 30-minute chart: 5 lines of
60 points and the two thresholds, as `notifier/delivery/charts.py` draws it) into the Bot
Connector's request body, the way a proactive send does it:
  baseline   botbuilder's path: `Activity().deserialize` of our JSON, then msrest's
             `Serializer.body` (each walks the card key by key in Python)
  heatwatch  `bots/serializer.py`: the card kept as it is on the way in, handed over as plain
             JSON on the way out
Both bodies are compared: they must be equal. Prints milliseconds per send and the ratio.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import botframework.connector.models as connector_models
from botbuilder.schema import Activity
from msrest import Serializer

from bots.serializer import JsonSerializer, message_activity
from notifier.alerts.events import series_key
from notifier.alerts.record import AlertRecord, IncidentSnapshot
from notifier.delivery.cards import card_activity, summary
from notifier.delivery.charts import line_chart
from notifier.delivery.view import IncidentView

log = logging.getLogger("bench.serializer")
DOCUMENT = Path(__file__).resolve().parent.parent / "tests/fixtures/documents/incident.json"
MODELS = {name: kind for name, kind in vars(connector_models).items() if isinstance(kind, type)}


def incident_message() -> dict[str, object]:
    """The activity of a live incident card with its chart, as the worker sends it."""
    stored = json.loads(DOCUMENT.read_text(encoding="utf-8"))["document"]
    first = IncidentSnapshot.from_json(stored)
    now = first.at or datetime.now(UTC)
    members = tuple(replace(first.hottest[0], label=f"rack-{n}", value=28.0 + n,
                            tags={"room": "r1", "sensor": f"rack-{n}"}, at=now)
                    for n in range(1, 6))
    incident = replace(first, hottest=members, members=5)
    points = {series_key(member.tags): [
        (now - timedelta(seconds=30 * i), 22.0 + n * 0.3 + (60 - i) * 0.1)
        for i in range(60, 0, -1)] for n, member in enumerate(members)}
    chart = line_chart(incident, list(members), points, now)
    view = IncidentView(AlertRecord("0123456789abcdef", incident.rule, incident), chart=chart)
    return card_activity(view.card(now), summary(incident))


def per_send(work: object, sends: int) -> float:
    """Milliseconds of CPU per call of `work`."""
    start = time.process_time()
    for _ in range(sends):
        work()  # type: ignore[operator]
    return (time.process_time() - start) / sends * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=300)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    message = incident_message()
    msrest, ours = Serializer(MODELS), JsonSerializer(MODELS)
    if ours.body(message_activity(message), "Activity") != msrest.body(
            Activity().deserialize(message), "Activity"):
        log.error("the two bodies differ")
        return 1
    size = len(json.dumps(message))
    baseline = per_send(lambda: msrest.body(Activity().deserialize(message), "Activity"),
                        args.sends)
    heatwatch = per_send(lambda: ours.body(message_activity(message), "Activity"), args.sends)
    log.info("card with chart, %d bytes of JSON, %d sends each (CPU time):", size, args.sends)
    log.info("  baseline (botbuilder + msrest)   %6.2f ms per send", baseline)
    log.info("  heatwatch (bots/serializer.py)   %6.2f ms per send   %.1fx less CPU, same body",
             heatwatch, baseline / heatwatch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
