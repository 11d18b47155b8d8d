"""The asker's time zone, from what Teams sends with an activity.

Teams puts the sender's IANA time zone on the activity (`localTimezone`, e.g. "Europe/Paris")
and in the `clientInfo` entity (`timezone`); see "Activity schema: localTimezone"
(microsoft/botframework-sdk, specs/botframework-activity/botframework-activity.md, "Local timezone")
and the Teams clientInfo entity. `localTimezone` wins; a name this machine does not know counts
as none. Chat code gets a plain `str | None` on `Actor.time_zone`, never a botbuilder type.
"""

from __future__ import annotations

from botbuilder.schema import Activity

from common.times import known_zone


def time_zone_of(activity: Activity) -> str | None:
    named = getattr(activity, "local_timezone", None)
    if isinstance(named, str) and known_zone(named):
        return named
    for entity in activity.entities or []:
        if getattr(entity, "type", None) != "clientInfo":
            continue
        extra = getattr(entity, "additional_properties", None) or {}
        candidate = extra.get("timezone")
        if isinstance(candidate, str) and known_zone(candidate):
            return candidate
    return None
