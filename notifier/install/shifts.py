"""Who is on shift, from Teams Shifts through Microsoft Graph (msgraph-sdk), for schedules with
`shifts = "<team id>"`:

  GET /teams/{team id}/schedule/shifts?$filter=sharedShift/startDateTime ge {from} and
      sharedShift/endDateTime le {to}          (followed through @odata.nextLink)

Permission: application `Schedule.Read.All` with admin consent. Graph documents the
`MS-APP-ACTS-AS` header (a user id) as required with an application token on this API: a
schedule's `acts_as` is sent there. Only shared shifts count (what the team sees, not managers'
drafts), optionally of one scheduling group. The reader keeps the last schedule it read: when
Graph fails, that holds, and the failure is logged once per distinct problem and retried.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.teams.item.schedule.shifts.shifts_request_builder import (
    ShiftsRequestBuilder,
)
from msgraph.graph_service_client import GraphServiceClient

from notifier.alerts.schedules import Override, Schedules
from notifier.install.graph import GraphError, graph_error

log = logging.getLogger(__name__)

PERMISSION = "Schedule.Read.All"
AHEAD = timedelta(days=7)  # shifts read ahead of now
BEHIND = timedelta(days=1)  # and behind (a shift that began yesterday may still run)
REFRESH_SECONDS = 300.0
PAGES = 50  # at most this many pages per schedule and read


def _moment(value: datetime | None) -> datetime | None:
    """Graph's DateTimeOffset, in UTC (a naive one is UTC, as Graph writes them)."""
    if value is None:
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


class ShiftsReader:
    def __init__(self, client: GraphServiceClient, schedules: Schedules) -> None:
        self._graph = client
        self._schedules = schedules

    async def read(self, now: datetime) -> int:
        """Read every Shifts-backed schedule; how many shifts are in force. A failure raises
        `GraphError` after the schedules that could be read were updated."""
        found = 0
        failure: GraphError | None = None
        for schedule in list(self._schedules):
            if schedule.shifts is None:
                continue
            try:
                shifts = await self._shifts(schedule.shifts, schedule.scheduling_group,
                                            schedule.acts_as, now)
            except GraphError as error:
                failure = failure or error
                continue
            self._schedules.set_shifts(schedule.name, shifts)
            found += len(shifts)
        if failure is not None:
            raise GraphError(failure.status, f"{failure}; the last schedule read holds",
                             failure.retry_after)
        return found

    async def _shifts(self, team: str, group: str | None, acts_as: str | None,
                      now: datetime) -> list[Override]:
        start = (now - BEHIND).strftime("%Y-%m-%dT%H:%M:%SZ")
        end = (now + AHEAD).strftime("%Y-%m-%dT%H:%M:%SZ")
        query = ShiftsRequestBuilder.ShiftsRequestBuilderGetQueryParameters(
            filter=f"sharedShift/startDateTime ge {start} and "
                   f"sharedShift/endDateTime le {end}")
        config = RequestConfiguration[ShiftsRequestBuilder.ShiftsRequestBuilderGetQueryParameters](
            query_parameters=query)
        if acts_as:
            config.headers.add("MS-APP-ACTS-AS", acts_as)
        builder = self._graph.teams.by_team_id(team).schedule.shifts
        shifts: list[Override] = []
        try:
            page = await builder.get(request_configuration=config)
            for _ in range(PAGES):
                for item in (page.value if page and page.value else []):
                    shared = item.shared_shift
                    if (group and item.scheduling_group_id != group) or not item.user_id \
                            or shared is None:
                        continue
                    begins, ends = _moment(shared.start_date_time), _moment(
                        shared.end_date_time)
                    if begins is not None and ends is not None and ends > begins:
                        shifts.append(Override(item.user_id, begins, ends))
                link = page.odata_next_link if page else None
                if not link:
                    break
                page = await builder.with_url(link).get(request_configuration=config)
        except ODataError as error:
            raise graph_error(error, f"the Shifts schedule of team {team}",
                              permission=PERMISSION) from None
        return shifts
