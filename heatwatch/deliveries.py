"""List outbox deliveries, dead ones by default: `python -m heatwatch deliveries [--status S]`.

Newest first. The header says how many rows are shown of how many with that status; the totals
per status follow on their own line. Reads DATABASE_URL like the bot does. Each dead row says
why it was given up.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from common.errors import HeatWatchError
from common.settings import load_settings
from notifier.inbound.sources import RECEIVERS
from storage.database import open_database
from storage.outbox import DeliveryStatus, Outbox


def totals(counts: dict[str, int]) -> str:
    return ", ".join(f"{status} {count}" for status, count in sorted(counts.items())) or "empty"


async def report(status: DeliveryStatus | None, limit: int) -> str:
    settings = load_settings(receivers=RECEIVERS)
    database = await open_database(settings.database_url)
    try:
        outbox = Outbox(database)
        counts = await outbox.counts()
        rows = await outbox.list(status, limit)
    finally:
        await database.close()
    what = f"{status.value} deliveries" if status else "deliveries"
    total = counts.get(status.value, 0) if status else sum(counts.values())
    if not rows:
        lines = [f"No {what}."]
    elif len(rows) < total:
        lines = [f"{what.capitalize()}: the newest {len(rows)} of {total}, newest first "
                 "(--limit shows more):"]
    else:
        lines = [f"{what.capitalize()}: {total}, newest first:"]
    for row in rows:
        about = f"alert {row.alert_id[:8]}" if row.alert_id else row.event_id.split("-")[0]
        lines.append(f"  {row.created_at:%Y-%m-%d %H:%M:%S} {row.status.value:7} "
                     f"{row.operation.value:5} {about} -> {row.conversation_id} "
                     f"(attempts {row.attempts}){': ' + row.last_error if row.last_error else ''}")
    lines.append(f"In the outbox: {totals(counts)}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m heatwatch deliveries",
        description="List HeatWatch's delivery outbox, newest first, with why each dead "
                    "delivery was given up.")
    parser.add_argument("--status", choices=[s.value for s in DeliveryStatus] + ["all"],
                        default="dead", help="which deliveries (default: dead)")
    parser.add_argument("--limit", type=int, default=50,
                        help="show at most this many, newest first (default: 50)")
    args = parser.parse_args(argv)
    status = None if args.status == "all" else DeliveryStatus(args.status)
    try:
        sys.stdout.write(asyncio.run(report(status, args.limit)))
    except HeatWatchError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
