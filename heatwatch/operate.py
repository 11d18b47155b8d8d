"""Operator commands: `rules check [FILE]`, `conversations`, `test-alert [--to TARGET]`.

`test-alert` goes through the real pipeline: the card is written to the outbox and sent by the
delivery workers. If a HeatWatch answers on this machine (`GET /healthz` on HOST:PORT), its
workers send it and this command waits for the result; if none answers, this command runs the
delivery workers itself (as the bot would, so other due deliveries go out too) until its test
cards are sent, given up, or `--timeout`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import socket
import sys
import time
from pathlib import Path

import aiohttp

from common.errors import ConfigError, HeatWatchError
from common.settings import EnvReader, Settings, load_environment, load_settings
from heatwatch.reload import Rules, read_rules_file
from notifier.alerts.routing import parse_target
from notifier.chat.operating import thresholds, who_would_be_told
from notifier.inbound.sources import RECEIVERS
from notifier.monitoring.rules import Rule, load_rules
from storage.backend import SqlBackend
from storage.database import open_database
from storage.models import Conversation, Scope
from storage.outbox import Delivery, DeliveryStatus, Outbox


def _fail(error: HeatWatchError) -> int:
    sys.stderr.write(f"{error}\n")
    return 2


# rules check ----------------------------------------------------------------------------------


def rules_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m heatwatch rules",
                                     description="Work with the alert rules file.")
    sub = parser.add_subparsers(dest="action", metavar="action", required=True)
    check = sub.add_parser("check", help="validate a rules file (exit 0 valid, 2 invalid)",
                           description="Validate a rules file with the same checks and "
                                       "messages as at start: exit 0 if valid, 2 if not.")
    check.add_argument("file", nargs="?", type=Path,
                       help="the rules file (default: RULES_FILE, else rules.toml)")
    args = parser.parse_args(argv)
    path = args.file or Path(EnvReader(load_environment()).text("RULES_FILE",
                                                                str(Settings.rules_file)))
    try:
        rules = load_rules(path)
    except ConfigError as error:
        return _fail(error)
    lines = [f"{path}: {len(rules)} valid rule(s)"]
    for rule in rules:
        targets = ", ".join(rule.targets) if rule.targets else "everyone (default audience)"
        lines.append(f"  {rule.name}: {rule.watches}, {thresholds(rule)}; "
                     f"to {targets}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


# conversations --------------------------------------------------------------------------------


def describe(conversation: Conversation) -> str:
    """A conversation as people know it: names first (the registry keeps the names Teams
    sent: a person's with their messages, a team's and channel's with its events); an id
    only when Teams has not sent the name yet, and then it says so."""
    if conversation.scope is Scope.PERSONAL:
        name = (f"chat with {conversation.user_name}" if conversation.user_name else
                f"chat with user {conversation.user_aad_object_id or '?'} (name not known "
                "yet: Teams sends it with their first message)")
    elif conversation.scope is Scope.CHANNEL:
        team = (f"team {conversation.team_name}" if conversation.team_name else
                f"team {conversation.team_id} (name not known yet)")
        name = f"{team}, channel {conversation.channel_name or 'General'}"
    else:
        name = "group chat"
    return f"    {conversation.scope.value:10} {name} ({conversation.conversation_id})"


def rules_for(settings: Settings) -> list[Rule]:
    """The rules as the server reads them (heatwatch/reload.py): required with monitoring."""
    return read_rules_file(settings.rules_file, required=settings.monitoring).rules


async def conversations_report(settings: Settings) -> str:
    loaded = Rules.of(read_rules_file(settings.rules_file, required=settings.monitoring))
    database = await open_database(settings.database_url)
    try:
        # The server's routing (heatwatch/reload.py); `oncall:` targets resolved to whoever is
        # on call now, as the server would send.
        found = await who_would_be_told(database, loaded.sources(), loaded.rules)
    finally:
        await database.close()
    lines = []
    for rule, conversations in found:
        title = (f"Rule {rule.name} (to {', '.join(rule.targets) or 'everyone'})" if rule
                 else "InfluxDB down/up alerts (everyone)")
        lines.append(f"{title}: {len(conversations)} conversation(s)")
        lines += [describe(c) for c in conversations] or ["    nobody: no active conversation "
                                                          "is reached (see docs/delivery.md, "
                                                          "Proactive delivery)"]
    return "\n".join(lines) + "\n"


def conversations_main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m heatwatch conversations",
        description="Who would get an alert now, per rule: the delivery planner's own audience "
                    "(targets, subscriptions, mutes, installation state) over the registry in "
                    "DATABASE_URL.").parse_args(argv)
    try:
        sys.stdout.write(asyncio.run(conversations_report(load_settings(receivers=RECEIVERS))))
    except HeatWatchError as error:
        return _fail(error)
    return 0


# test-alert -----------------------------------------------------------------------------------


async def bot_answers(settings: Settings) -> bool:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session:
            async with session.get(f"http://{host}:{settings.port}/healthz") as response:
                return response.status == 200
    except (aiohttp.ClientError, TimeoutError, OSError):
        return False


async def wait_until_settled(outbox: Outbox, alert_id: str, timeout: float) -> list[Delivery]:
    deadline = time.monotonic() + timeout
    while True:
        rows = await outbox.of_alert(alert_id)
        if all(row.status is not DeliveryStatus.PENDING for row in rows) or (
                time.monotonic() > deadline):
            return rows
        await asyncio.sleep(0.25)


async def send_with_own_workers(settings: Settings, database: SqlBackend, alert_id: str,
                                timeout: float) -> list[Delivery]:
    """No bot runs here: run the delivery workers in this process, as the bot would."""
    from bots.runtime import BotRuntime  # the platform only when sending from here
    from common.tokens import token_source_for
    from heatwatch.components import delivery_worker
    from notifier.chat.actions import AlertActions
    from notifier.chat.commands import Commands
    from notifier.delivery.ratelimit import DeliveryLimiter
    from storage.alert_state import AlertStateStore

    tokens = token_source_for(settings)
    limiter = DeliveryLimiter(settings.tenant_send_limit)
    actions = AlertActions(database)
    wake = asyncio.Event()
    bot = BotRuntime(settings, tokens, database, actions,
                     Commands(actions, AlertStateStore(database), []), limiter, wake)
    worker = delivery_worker(settings, database, bot.sender, limiter, wake)
    task = asyncio.create_task(worker.run())
    try:
        return await wait_until_settled(Outbox(database), alert_id, timeout)
    finally:
        await worker.drain(10.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bot.close()
        if tokens is not None:
            await tokens.close()


async def test_alert(settings: Settings, targets: list[str], timeout: float) -> tuple[str, int]:
    from notifier.delivery.testalert import send_test_card

    sent_by = f"{getpass.getuser()}@{socket.gethostname()} (python -m heatwatch test-alert)"
    database = await open_database(settings.database_url)
    try:
        event, audience = await send_test_card(database, sent_by, targets)
        if not audience:
            return ("Nobody would get the test card: no active conversation is reached "
                    f"by {', '.join(targets) or 'the default audience'} (python -m heatwatch "
                    "conversations shows who is).\n", 1)
        lines = [f"Queued a test card (marked TEST, alert {event.alert_id}) in the outbox for "
                 f"{len(audience)} conversation(s)."]
        if await bot_answers(settings):
            lines.append(f"HeatWatch answers on port {settings.port}: its delivery workers "
                         f"send it; waiting up to {timeout:g}s for the result.")
            rows = await wait_until_settled(Outbox(database), event.alert_id, timeout)
        else:
            lines.append(f"No HeatWatch answers on port {settings.port}: sending from this "
                         "command with the delivery workers (other due deliveries go out "
                         f"too), for up to {timeout:g}s.")
            rows = await send_with_own_workers(settings, database, event.alert_id, timeout)
    finally:
        await database.close()
    for row in rows:
        state = {"done": "sent", "dead": f"NOT SENT: {row.last_error}",
                 "pending": "still pending (sent when a bot's workers get to it)"}[row.status]
        lines.append(f"  {row.conversation_id}: {state}")
    sent = all(row.status is DeliveryStatus.DONE for row in rows)
    return "\n".join(lines) + "\n", 0 if sent else 1


def test_alert_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m heatwatch test-alert",
        description="Send a clearly marked TEST card through the real pipeline: it is written "
                    "to the outbox and sent by the delivery workers (a running HeatWatch's, "
                    "or this command's own when none answers on HOST:PORT). Exit 0 when every "
                    "card was sent.")
    parser.add_argument("--to", action="append", default=[], metavar="TARGET",
                        help='"user:<AAD object id>", "team:<team id>" or "conversation:<id>"; '
                             "repeat for several (default: everyone alerts go to)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for the sends (default: 60)")
    args = parser.parse_args(argv)
    for target in args.to:
        try:
            parse_target(target)
        except ValueError as error:
            parser.error(str(error))
    try:
        text, code = asyncio.run(test_alert(load_settings(receivers=RECEIVERS), args.to,
                                            args.timeout))
    except HeatWatchError as error:
        return _fail(error)
    sys.stdout.write(text)
    return code
