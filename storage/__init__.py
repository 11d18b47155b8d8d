"""Durable state: the conversation registry (and later alert state and the delivery outbox).

Nothing here imports botbuilder: conversation references are stored as plain JSON.
"""
