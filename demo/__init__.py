"""The one-command local demo: InfluxDB, a temperature simulator, the bot and the Playground."""
