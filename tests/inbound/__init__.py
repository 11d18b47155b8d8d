"""The alert receivers: Alertmanager, Grafana and InfluxDB 2 checks, bodies and hostile input."""
