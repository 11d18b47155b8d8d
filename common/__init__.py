"""The ground floor: errors, settings, logs, clock, retry, Entra tokens, the Microsoft JSON
shapes HeatWatch stores and sends (`wire`); imports nothing of ours."""
