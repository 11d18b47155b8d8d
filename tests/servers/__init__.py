"""Real servers the tests start on loopback: InfluxDB 1.x, PostgreSQL, Prometheus, Alertmanager."""
