"""List outbox deliveries, dead ones by default: `python -m heatwatch deliveries [--status S]`.

Reads DATABASE_URL like the bot does. Each dead row says why it was given up.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from common.errors import HeatWatchError
from common.settings import load_settings
from storage.database import open_database
from storage.outbox import DeliveryStatus, Outbox


async def report(status: DeliveryStatus | None, limit: int) -> str:
    settings = load_settings()
    database = await open_database(settings.database_url)
    try:
        outbox = Outbox(database)
        counts = await outbox.counts()
        rows = await outbox.list(status, limit)
    finally:
        await database.close()
    lines = ["deliveries: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                               or "none")]
    for row in rows:
        lines.append(f"{row.created_at:%Y-%m-%d %H:%M:%S} {row.status.value:7} "
                     f"{row.operation.value:4} alert {row.alert_id[:8]} -> {row.conversation_id} "
                     f"(attempts {row.attempts}){': ' + row.last_error if row.last_error else ''}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m heatwatch deliveries",
                                     description="List HeatWatch's delivery outbox.")
    parser.add_argument("--status", choices=[s.value for s in DeliveryStatus] + ["all"],
                        default="dead")
    parser.add_argument("--limit", type=int, default=50)
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
