"""Push sources: alert notifications from Alertmanager, Grafana and InfluxDB 2 checks, received
over HTTP (`POST /api/alerts/<receiver>`) and turned into alert events for the alert core.

One module per integration turns a validated payload into `AlertEvent`s (pure functions), and
`sources`, the source registry, names each one once (its receiver, reader, event source and
whether its incidents can be silenced): a new source is its module plus its entry there.
`receiver` is the shared HTTP side (authentication, size cap, JSON validation, idempotency);
`silences` makes and expires Alertmanager silences from cards.
"""
