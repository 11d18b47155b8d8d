"""Durable state over SQLite or PostgreSQL: the conversation registry, alert state and alert
records, the audit trail, the delivery outbox, preferences, the activities handled recently,
inbound notification records and replica heartbeats, with versioned migrations.

Nothing here imports botbuilder or the alert code: references, events and incident documents
are stored as JSON text, which the layers above read and write (an incident's document:
notifier/alerts/record.py). What an alert means is not decided here.
"""
