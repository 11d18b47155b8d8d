"""The unit layer: the pure pieces imported directly (state machine, incidents, cards, routes,
limits, settings, durations, trend, backoff), with fake clocks and no servers. Run it alone
with `pytest tests/unit`; it takes a few seconds."""
