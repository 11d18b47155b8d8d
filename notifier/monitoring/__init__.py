"""InfluxDB monitoring: rules, the queries, the per-series state machine and the polling loop."""
