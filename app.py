"""Run HeatWatch: `python app.py`. Settings come from the environment and `.env`."""

from __future__ import annotations

import logging
import sys

from common.errors import ConfigError, HeatWatchError
from common.logs import configure_logging
from common.settings import load_settings
from heatwatch.server import run


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as error:
        configure_logging("INFO", [])
        logging.getLogger("heatwatch").error("%s", error)
        return 2
    configure_logging(settings.log_level, settings.secrets())
    try:
        run(settings)
    except ConfigError as error:  # e.g. invalid alert rules, found while starting
        logging.getLogger("heatwatch").error("%s", error)
        return 2
    except HeatWatchError as error:  # e.g. the database refused the login: one clear line
        logging.getLogger("heatwatch").error("Cannot start: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
