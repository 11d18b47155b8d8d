"""Helpers shared by the test files: waiting on a condition (`waiting`); the alert events,
cards and app fixtures of the delivery tests (`delivery`); an alert sink that records what it
is given (`sinks`); a Teams channel that posts the recorded activities to the app (`teams`);
child processes such as `python app.py` (`process`); people registered in bulk (`cluster`).
A helper a second test file needs moves here.

The tests are grouped by concern: `unit/` (pure pieces, no servers, seconds), `bot/`,
`alerts/`, `delivery/`, `inbound/`, `oncall/`, `operating/`; `servers/` starts the real servers
they use and `standins/` stands in for Microsoft's cloud."""
