"""The alert core: alert events from any source, the sink they go to, and routing to audiences."""
