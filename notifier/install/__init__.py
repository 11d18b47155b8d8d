"""Installation through Microsoft Graph for the people who must get alerts, kept true."""
