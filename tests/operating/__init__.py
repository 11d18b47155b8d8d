"""Operating HeatWatch: the CLI, docs, metrics, start-up, settings, package, service unit and demo."""
