"""From readings to incidents: monitoring, rules, Flux, dew point, exposure, incidents, charts, site events."""
