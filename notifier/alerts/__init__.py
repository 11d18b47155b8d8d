"""The alert core: alert events from any source, the sink they go to, and routing to audiences;
incidents folded from events (`incidents.py`) and the incident as stored, typed (`record.py`:
its one (de)serialisation and the rules about it: open kinds, severity order, what breaks a
snooze, the 7-day cap), read from storage's rows by `store.AlertStore`."""
