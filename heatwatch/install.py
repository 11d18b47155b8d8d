"""Set up alerts for people once, as an admin: `python -m heatwatch install --user a@contoso.com`.

Runs the same Graph flow as the bot (install the app if needed, find the 1:1 chat, store the
conversation reference) with the bot's settings (environment and .env), and prints what it did.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from common.errors import ConfigError, HeatWatchError
from common.settings import load_settings
from common.tokens import token_source_for
from heatwatch.components import graph_installer
from notifier.inbound.sources import RECEIVERS
from storage.database import open_database
from storage.registry import ConversationRegistry


async def install(users: list[str]) -> tuple[list[str], bool]:
    settings = load_settings(receivers=RECEIVERS)
    tokens = token_source_for(settings)
    if tokens is None:
        raise ConfigError("MicrosoftAppId is empty: Graph needs the bot's identity. Set "
                          "MicrosoftAppId, MicrosoftAppPassword and MicrosoftAppTenantId.")
    if not settings.teams_app_id:
        raise ConfigError("TEAMS_APP_ID is empty: set it to the id of the HeatWatch manifest.")
    database = await open_database(settings.database_url)
    lines, ok = [], True
    try:
        installer = graph_installer(settings, tokens, ConversationRegistry(database))
        for user in users:
            try:
                lines.append((await installer.ensure(user)).describe())
            except HeatWatchError as error:
                lines.append(f"{user}: FAILED: {error}")
                ok = False
    finally:
        await database.close()
        await tokens.close()
    return lines, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m heatwatch install",
                                     description="Install HeatWatch for people through Graph.")
    parser.add_argument("--user", action="append", required=True,
                        help="AAD object id or UPN; repeat for several people")
    args = parser.parse_args(argv)
    try:
        lines, ok = asyncio.run(install(args.user))
    except HeatWatchError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    sys.stdout.write("\n".join(lines) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
