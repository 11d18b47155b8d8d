"""Loaded by every Python process the tests start (PYTHONPATH): the loopback-only guard."""

import os

if os.environ.get("HEATWATCH_LOOPBACK_LOG"):
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    import loopback_guard

    loopback_guard.install()
