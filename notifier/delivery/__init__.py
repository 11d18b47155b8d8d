"""The delivery pipeline: alert events to outbox rows, workers that send them, cards, limits."""
