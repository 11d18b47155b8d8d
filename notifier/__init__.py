"""Alerting without botbuilder: the alert core and the jobs built on it.

Layers, lowest first (an arrow never runs back up): `alerts` (events, sink, routing,
incidents) <- the sources `monitoring` (InfluxDB poller) and `inbound` (Alertmanager, Grafana
and InfluxDB check notifications), `delivery` (outbox pipeline, cards, charts), `install`
(Graph) <- `chat` (commands, actions, welcome).
"""
