"""Run HeatWatch: `python app.py` (the same as `python -m heatwatch serve`). Settings come from
the environment and `.env`."""

from __future__ import annotations

import sys

from heatwatch.cli import serve

if __name__ == "__main__":
    sys.exit(serve([]))
