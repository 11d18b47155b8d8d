"""Alerting: reads InfluxDB, evaluates rules, and hands alert events to delivery."""
