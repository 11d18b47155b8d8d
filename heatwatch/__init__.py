"""HeatWatch: proactive datacenter temperature alerts in Microsoft Teams."""
