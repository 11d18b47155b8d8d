"""Helpers shared by the test files: waiting on a condition (`waiting`); the alert events,
cards and app fixtures of the delivery tests (`delivery`); an alert sink that records what it
is given (`sinks`). A helper a second test file needs moves here."""
