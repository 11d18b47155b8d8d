"""Build the monitoring pieces from settings."""

from __future__ import annotations

from heatwatch.settings import InfluxSettings, QueryLanguage
from notifier.sources import TemperatureSource


def build_source(influx: InfluxSettings) -> TemperatureSource:
    if influx.language is QueryLanguage.FLUX:
        from notifier.flux import FluxSource

        return FluxSource(influx.url, influx.org, influx.bucket, influx.token, influx.timeout)
    from notifier.influxql import InfluxQLSource

    return InfluxQLSource(influx.url, influx.database, token=influx.token,
                          username=influx.username, password=influx.password,
                          timeout=influx.timeout)
