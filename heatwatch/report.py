"""`python -m heatwatch report [--since 30d] [--room R] [--csv FILE]`: the exposure report
(`notifier.monitoring.exposure`) from InfluxDB's history and the incidents in DATABASE_URL,
printed as text; `--csv` also writes the per-room table (one row per rule and room)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from pathlib import Path

from common.clock import utcnow
from common.durations import duration_words, parse_duration
from common.errors import ConfigError, HeatWatchError
from common.logs import configure_logging
from common.settings import Settings, load_settings
from common.times import at
from heatwatch.operate import rules_for
from notifier.alerts.store import AlertStore
from notifier.inbound.sources import RECEIVERS
from notifier.monitoring.exposure import ExposureReport, read_exposure
from notifier.monitoring.sources import build_source
from storage.database import open_database

CSV_COLUMNS = ("rule", "room", "unit", "minutes_outside_recommended",
               "minutes_outside_allowable", "minutes_rate_of_change", "minutes_with_data")


async def build_report(settings: Settings, seconds: int, room: str | None) -> ExposureReport:
    rules = rules_for(settings)
    if not rules:
        raise ConfigError(f"No alert rules in RULES_FILE={str(settings.rules_file)!r}: the "
                          "report counts time outside the rules' thresholds.")
    source = build_source(settings.influx)
    database = await open_database(settings.database_url)
    try:
        return await read_exposure(source, rules, AlertStore(database), seconds, utcnow(), room)
    finally:
        await source.close()
        await database.close()


def _minutes(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def report_text(report: ExposureReport) -> str:
    lines = [f"Exposure {at(report.start, None)} .. {at(report.end, None)} (steps of "
             f"{duration_words(report.step)}; minutes outside the rules' warning = recommended, "
             "critical = allowable)", "",
             f"{'rule':24} {'room':20} {'recommended':>11} {'allowable':>9} {'rate':>6} "
             f"{'data':>7}"]
    for row in sorted(report.rooms, key=lambda r: (r.rule, r.room)):
        lines.append(f"{row.rule:24} {row.room:20} {_minutes(row.recommended):>11} "
                     f"{_minutes(row.allowable):>9} {_minutes(row.rate):>6} "
                     f"{_minutes(row.covered):>7}")
    if not report.rooms:
        lines.append("(no readings in this window)")
    lines += ["", "Worst excursions:"]
    for e in report.worst:
        told = "; ".join(f"alert {alert_id} "
                         + (f"acknowledged by {by}" if by else "not acknowledged")
                         for alert_id, by in e.incidents) or "no incident"
        lines.append(f"  {e.rule} {e.room}: {at(e.start, None)} for {e.minutes:g} min, peak "
                     f"{e.peak:.1f} {e.unit}{' (outside allowable)' if e.allowable else ''}; "
                     f"{told}")
    if not report.worst:
        lines.append("  none")
    lines += ["", "Response per severity (incidents opened in the window):"]
    for r in report.responses:
        lines.append(f"  {r.severity}: {r.incidents} incidents, MTTA "
                     f"{duration_words(r.mtta) if r.mtta is not None else '-'} over "
                     f"{r.acknowledged} acknowledged, time to resolve "
                     f"{'-' if r.time_to_resolve is None else duration_words(r.time_to_resolve)} "
                     f"over {r.resolved} resolved")
    if not report.responses:
        lines.append("  no incidents")
    lines += [f"NOT READ: {failure}" for failure in report.failures]
    return "\n".join(lines) + "\n"


def write_csv(report: ExposureReport, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in sorted(report.rooms, key=lambda r: (r.rule, r.room)):
            writer.writerow([row.rule, row.room, row.unit, f"{row.recommended:g}",
                             f"{row.allowable:g}",
                             "" if row.rate is None else f"{row.rate:g}", f"{row.covered:g}"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m heatwatch report",
        description="Per room, minutes outside the recommended and the allowable envelope "
                    "(the rules' warning and critical thresholds), the worst excursions with "
                    "their incidents, MTTA and time to resolve, from InfluxDB's history.")
    parser.add_argument("--since", default="30d", help="how far back (default 30d)")
    parser.add_argument("--room", help="one room (an incident group's tag value)")
    parser.add_argument("--csv", type=Path, help="also write the per-room table to this file")
    args = parser.parse_args(argv)
    try:
        seconds = parse_duration(args.since)
    except ValueError:
        seconds = 0.0
    if seconds < 60:
        sys.stderr.write(f"--since {args.since!r}: expected a duration of a minute or more, "
                         "like 30d, 7d or 12h\n")
        return 2
    try:
        settings = load_settings(receivers=RECEIVERS)
        configure_logging(settings.log_level, settings.secrets())
        report = asyncio.run(build_report(settings, int(seconds), args.room))
    except HeatWatchError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    sys.stdout.write(report_text(report))
    if args.csv is not None:
        try:
            write_csv(report, args.csv)
        except OSError as error:
            sys.stderr.write(f"--csv {str(args.csv)!r}: {error.strerror}\n")
            return 1
    return 1 if report.failures else 0
