"""Alerting without botbuilder: the alert core and the jobs built on it.

Layers, lowest first (an arrow never runs back up): `alerts` (events, sink, routing) <-
`monitoring` (InfluxDB source), `delivery` (outbox pipeline), `install` (Graph) <- `chat`.
"""
