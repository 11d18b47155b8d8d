"""The ground floor: errors, settings, logging, clock, retry and Entra tokens. Imports nothing of ours."""
