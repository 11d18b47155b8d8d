"""The source registry: every push source in one place, with its receiver (the path
`POST /api/alerts/<receiver>` and the `<RECEIVER>_WEBHOOK_*` settings), its reader (a payload
to alert events), the `AlertEvent.source` of its events and what its incidents can do.

A new push source is its own module (a pure reader, as `grafana.py`) plus its entry here: this
table is the one place that names the receivers. The composition root builds the receivers,
the sources' routing and the metrics' receiver labels from it, and docs/configuration.md and
`.env.example` list its names (heatwatch/settingsdoc.py). Settings sit below notifier/ and
cannot import this: they find every `<NAME>_WEBHOOK_*` variable set, whatever the name, and the
commands hand `load_settings` these names (`RECEIVERS`), so only their variables are read and
checked; the composition root warns about a name no source here has (`unknown_receivers`).
The InfluxDB monitoring is the one pulled source, registered there
(`notifier.alerts.events.INFLUXDB`, routed by its rules, charted from InfluxDB).

Decision: every push source is routed by the rules file's `[[route]]` tables (label matching);
a source that needs other routing would add a field here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from difflib import get_close_matches
from typing import Any

from common.settings import InboundSettings
from notifier.inbound import alertmanager, grafana, influxdb
from notifier.inbound.payload import Intake
from notifier.inbound.receiver import Reader


@dataclass(frozen=True)
class PushSource:
    receiver: str  # POST /api/alerts/<receiver>; <RECEIVER>_WEBHOOK_* settings ([a-z0-9]+)
    source: str  # AlertEvent.source of its events
    read: Reader  # a validated JSON payload and the time it came, to intakes
    silence: bool = False  # its incidents' cards offer Silence (the Alertmanager API)


def _alertmanager(payload: Any, now: datetime) -> list[Intake]:
    return alertmanager.events(alertmanager.parse(payload), now)


def _grafana(payload: Any, now: datetime) -> list[Intake]:
    return grafana.events(grafana.parse(payload), now)


PUSH_SOURCES: tuple[PushSource, ...] = (
    PushSource("alertmanager", alertmanager.SOURCE, _alertmanager, silence=True),
    PushSource("grafana", grafana.SOURCE, _grafana),
    PushSource("influxdb", influxdb.SOURCE, influxdb.events),
)

RECEIVERS: tuple[str, ...] = tuple(source.receiver for source in PUSH_SOURCES)


def receiver_paths() -> str:
    """"/api/alerts/alertmanager, /api/alerts/grafana or /api/alerts/influxdb"."""
    paths = [f"/api/alerts/{source.receiver}" for source in PUSH_SOURCES]
    return ", ".join(paths[:-1]) + " or " + paths[-1] if len(paths) > 1 else paths[0]


def unknown_receivers(inbound: InboundSettings) -> str:
    """The start-up warning about receiver variables set for a name no push source has, or ""
    when there is none: names only, never a value. Not an error: a deployment's environment may
    hold another program's `SLACK_WEBHOOK_TOKEN`."""
    unknown = [(name, receiver.variables) for name, receiver in inbound.receivers.items()
               if name not in RECEIVERS]
    if not unknown:
        return ""
    clauses = [f"{', '.join(variables)} {'is' if len(variables) == 1 else 'are'} set but there "
               f"is no receiver {name!r}{_meant(name)}" for name, variables in unknown]
    return f"{'; '.join(clauses)} (the receivers are {', '.join(RECEIVERS)}): ignored."


def _meant(name: str) -> str:
    """" (did you mean 'grafana'?)" for a near miss of a receiver's name, else ""."""
    close = get_close_matches(name, RECEIVERS, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""
