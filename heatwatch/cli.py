"""`python -m heatwatch <command>`: the one command-line entry point.

Each command lives in its own module with a `main(argv) -> exit status`; `serve` is what
`python app.py` runs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from common.errors import ConfigError, HeatWatchError
from common.logs import configure_logging
from common.settings import load_settings


def serve(argv: list[str] | None = None) -> int:
    """Run the bot until SIGINT/SIGTERM (settings from the environment and `.env`)."""
    argparse.ArgumentParser(prog="python -m heatwatch serve",
                            description="Run the HeatWatch bot (same as python app.py).",
                            ).parse_args(argv)
    from heatwatch.server import run  # the whole app only when serving
    from notifier.inbound.sources import RECEIVERS

    log = logging.getLogger("heatwatch")
    try:
        settings = load_settings(receivers=RECEIVERS)
    except ConfigError as error:
        configure_logging("INFO", [])
        log.error("%s", error)
        return 2
    configure_logging(settings.log_level, settings.secrets())
    try:
        run(settings)
    except ConfigError as error:  # e.g. invalid alert rules, found while starting
        log.error("%s", error)
        return 2
    except HeatWatchError as error:  # e.g. the database refused the login: one clear line
        log.error("Cannot start: %s", error)
        return 1
    return 0


def _package(argv: list[str]) -> int:
    from heatwatch import package

    return package.main(argv)


def _install(argv: list[str]) -> int:
    from heatwatch import install

    return install.main(argv)


def _deliveries(argv: list[str]) -> int:
    from heatwatch import deliveries

    return deliveries.main(argv)


def _rules(argv: list[str]) -> int:
    from heatwatch import operate

    return operate.rules_main(argv)


def _conversations(argv: list[str]) -> int:
    from heatwatch import operate

    return operate.conversations_main(argv)


def _test_alert(argv: list[str]) -> int:
    from heatwatch import operate

    return operate.test_alert_main(argv)


def _report(argv: list[str]) -> int:
    from heatwatch import report

    return report.main(argv)


COMMANDS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "serve": (serve, "run the bot (what python app.py runs)"),
    "package": (_package, "build the Teams app package zip"),
    "install": (_install, "install HeatWatch for people through Microsoft Graph"),
    "deliveries": (_deliveries, "list the delivery outbox, newest first (dead by default)"),
    "conversations": (_conversations, "who would get an alert now, per rule"),
    "rules": (_rules, "rules check [FILE]: validate a rules file (exit 0 valid, 2 not)"),
    "test-alert": (_test_alert, "send a TEST card through the outbox [--to TARGET]"),
    "report": (_report, "time outside the envelope per room [--since 30d] [--room R] [--csv F]"),
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m heatwatch", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="HeatWatch: proactive server-room temperature alerts in Microsoft Teams.\n\n"
                    "commands:\n" + "\n".join(f"  {name:14} {text}" for name, (_, text) in
                                               COMMANDS.items()),
        epilog="Run 'python -m heatwatch <command> --help' for a command's options.")
    parser.add_argument("command", choices=COMMANDS, metavar="command", help="see above")
    if not args or args[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if args else 2
    known = parser.parse_args(args[:1])
    command, _ = COMMANDS[known.command]
    return command(args[1:])
