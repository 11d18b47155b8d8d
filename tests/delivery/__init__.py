"""The outbox to Teams: delivery, queues, replicas, crash recovery, storage and Graph installation."""
