"""The ground floor: errors, settings, logs, clock, retry, Entra tokens; imports nothing of ours."""
