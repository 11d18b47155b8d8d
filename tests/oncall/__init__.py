"""On call in Teams: schedules, overrides, Shifts, escalation paging and the activity feed."""
