"""Helpers shared by the test files: waiting on a condition (`waiting`) and the alert events,
cards and app fixtures of the delivery tests (`delivery`). Test files import from here, never
from one another."""
