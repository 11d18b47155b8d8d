"""The Teams activity handler: every conversation event keeps the registry true.

The event -> effect table in docs/delivery.md is the contract this class implements.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from http import HTTPStatus

from botbuilder.core import CardFactory, InvokeResponse, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsActivityHandler, TeamsInfo
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    ChannelAccount,
    MessageReaction,
)
from botbuilder.schema.teams import ChannelInfo, TeamInfo, TeamsChannelAccount

from bots.failures import failure_of
from bots.references import (
    conversation_id_of,
    normalize_event_type,
    scope_of,
    selected_channel_of,
    team_of,
    tenant_of,
    upsert_from_activity,
)
from bots.sender import within_budget
from bots.timezone import time_zone_of
from common.errors import StorageError
from common.wire import ActivityJson, InvokeResponseJson
from notifier.alerts.record import HOLD_MAX_HOURS
from notifier.chat.access import not_found_here
from notifier.chat.actions import Actor, AlertActions, Outcome
from notifier.chat.commands import HELP, Commands
from notifier.chat.registration import Registration
from notifier.chat.replies import ReplyQueue
from notifier.delivery.cards import CARD_CONTENT_TYPE
from notifier.delivery.ratelimit import DeliveryLimiter
from notifier.delivery.sending import TRANSIENT
from storage.models import Member, Reaction, Scope, Status
from storage.registry import ConversationRegistry

log = logging.getLogger(__name__)

HELP_TEXT = HELP
LIMITER_KEY = "heatwatch.limiter"
REPLIES_KEY = "heatwatch.replies"
SORRY_TEXT = "Sorry, something went wrong on my side. Please try again in a minute."

# Activities that prove the bot is present in the conversation right now: learn it if unknown.
_PRESENCE_TYPES = {ActivityTypes.message, ActivityTypes.message_reaction, ActivityTypes.invoke}


REPLY_TIMEOUT = 5.0  # seconds one reply may take inside a turn (Teams waits about 15 s)


async def reply(turn_context: TurnContext, activity: Activity) -> None:
    """Answer in the current turn, inside Teams' limits (replies count against the same
    per-conversation windows as alerts). When the connector cannot take it now (down,
    throttling, no token for the bot), the answer is queued in the outbox and sent by the
    delivery workers; the turn still succeeds, since what the person did is already stored.
    A conversation the bot can no longer post in gets nothing (one log line)."""
    incoming = turn_context.activity
    limiter: DeliveryLimiter | None = turn_context.turn_state.get(LIMITER_KEY)
    try:
        async with (limiter.slot(tenant_of(incoming), conversation_id_of(incoming))
                    if limiter is not None else contextlib.nullcontext()):
            async with asyncio.timeout(REPLY_TIMEOUT):
                await turn_context.send_activity(within_budget(activity))
        return
    except Exception as error:  # CancelledError is not an Exception: it goes through
        failure = failure_of(error)
        if failure is None:
            raise
    replies: ReplyQueue | None = turn_context.turn_state.get(REPLIES_KEY)
    if failure.kind in TRANSIENT and replies is not None and incoming.conversation:
        outgoing: ActivityJson = activity.serialize()
        outgoing.setdefault("replyToId", incoming.id)
        await replies.queue(tenant_of(incoming), conversation_id_of(incoming),
                            incoming.conversation.id, outgoing, incoming.id or "",
                            str(failure))
    else:
        log.warning("Reply in %s not sent (%s): %s", conversation_id_of(incoming),
                    failure.kind.value, failure)


def _invoke_message(status: HTTPStatus, text: str) -> InvokeResponseJson:
    if status >= 400:
        return {"statusCode": int(status), "type": "application/vnd.microsoft.error",
                "value": {"code": status.phrase.replace(" ", ""), "message": text}}
    return {"statusCode": int(status), "type": "application/vnd.microsoft.activity.message",
            "value": text}


def _hours(value: object) -> float | None:
    """A Snooze or Silence button's `hours` (1 or 24, cards.py), when a number within
    0 < hours <= HOLD_MAX_HOURS (compared before `float`, which a huge integer overflows); JSON
    `true` is no number, though Python's bool is an int."""
    if isinstance(value, int | float) and not isinstance(value, bool) and \
            0 < value <= HOLD_MAX_HOURS:
        return float(value)
    return None


class HeatWatchBot(TeamsActivityHandler):
    def __init__(self, registry: ConversationRegistry, actions: AlertActions | None = None,
                 commands: Commands | None = None,
                 limiter: DeliveryLimiter | None = None,
                 registration: Registration | None = None,
                 replies: ReplyQueue | None = None) -> None:
        super().__init__()
        self._registry = registry
        self._actions = actions
        self._commands = commands
        self._limiter = limiter
        self._registration = registration
        self._replies = replies

    @staticmethod
    def _actor(turn_context: TurnContext) -> Actor:
        activity = turn_context.activity
        user = activity.from_property
        name = (user.name or user.aad_object_id or user.id) if user else "someone"
        return Actor(tenant_of(activity), conversation_id_of(activity), name,
                     scope_of(activity), time_zone_of(activity),
                     aad_object_id=(user.aad_object_id or "") if user else "",
                     team_id=team_of(activity)[0] or "")

    # every turn --------------------------------------------------------------------------

    async def on_turn(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        normalize_event_type(activity)
        if self._limiter is not None:
            turn_context.turn_state[LIMITER_KEY] = self._limiter
        if self._replies is not None:
            turn_context.turn_state[REPLIES_KEY] = self._replies
        try:
            await self._refresh_service_url(turn_context)
            await self._remember_time_zone(turn_context)
            if activity.type in _PRESENCE_TYPES:
                await self._learn(turn_context)
            await super().on_turn(turn_context)
        except Exception as error:
            if activity.type == ActivityTypes.message and not isinstance(error, StorageError):
                await self._say_sorry(turn_context)
            raise

    async def _remember_time_zone(self, turn_context: TurnContext) -> None:
        """A person's message or button press in their personal chat says their time zone:
        the texts HeatWatch sends there later (reminders, escalation and probe notes) use it."""
        activity = turn_context.activity
        if activity.type not in (ActivityTypes.message, ActivityTypes.invoke) or \
                not activity.conversation or scope_of(activity) is not Scope.PERSONAL:
            return
        zone = time_zone_of(activity)
        if zone and await self._registry.remember_time_zone(
                tenant_of(activity), conversation_id_of(activity), zone):
            log.info("Personal chat %s: times in texts now in %s",
                     conversation_id_of(activity)[:12], zone)

    async def _refresh_service_url(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if not activity.service_url or not activity.conversation:
            return
        team_id, _ = team_of(activity)
        changed = await self._registry.refresh_service_url(
            tenant_of(activity), conversation_id_of(activity), team_id, activity.service_url
        )
        if changed:
            log.info("serviceUrl of %d conversation(s) changed to %s", changed,
                     activity.service_url)

    async def _learn(self, turn_context: TurnContext) -> None:
        """A user acted here, so the bot is installed: keep (or bring back) the reference."""
        activity = turn_context.activity
        known = await self._registry.get_conversation(
            tenant_of(activity), conversation_id_of(activity)
        )
        if known is not None and known.own_status is Status.ACTIVE:
            user = activity.from_property
            if known.scope is Scope.PERSONAL and not known.user_name and user and user.name:
                # Teams' install events may come without the person's name; their messages
                # carry it: keep it, so operators read names (`conversations`), not ids.
                await self._registry.upsert_conversation(upsert_from_activity(activity))
            if known.welcomed_at is None and self._registration is not None:
                # Its welcome may have been given up while the connector was out: now.
                await self._registration.welcome_again(upsert_from_activity(activity))
            return
        if scope_of(activity) is Scope.CHANNEL:
            team_id, team_name = team_of(activity)
            if team_id and await self._registry.get_team(tenant_of(activity), team_id) is None:
                await self._registry.upsert_team(tenant_of(activity), team_id, team_name)
        await self._registry.upsert_conversation(upsert_from_activity(activity))
        log.info("Learned conversation %s from a %s", conversation_id_of(activity), activity.type)

    async def _say_sorry(self, turn_context: TurnContext) -> None:
        try:
            await reply(turn_context, MessageFactory.text(SORRY_TEXT))
        except Exception:  # the connector may be the thing that failed
            log.debug("Could not tell the user about the failure", exc_info=True)

    # installation ------------------------------------------------------------------------

    async def _register(self, turn_context: TurnContext, *, welcome: bool) -> None:
        """Register the conversation the bot was added to (for a team: the team, the channel
        the event came from and General) and say hello once per conversation, ever."""
        activity = turn_context.activity
        tenant = tenant_of(activity)
        scope = scope_of(activity)
        conversation_id = conversation_id_of(activity)
        if scope is Scope.CHANNEL:
            team_id, team_name = team_of(activity)
            if team_id:
                await self._registry.upsert_team(tenant, team_id, team_name)
                selected = selected_channel_of(activity)
                if selected:
                    await self._registry.set_team_alert_channel(tenant, team_id, selected)
                    await self._registry.upsert_conversation(
                        upsert_from_activity(activity, conversation_id=selected)
                    )
                if team_id != conversation_id:
                    await self._registry.upsert_conversation(
                        upsert_from_activity(activity, conversation_id=team_id,
                                             channel_name="General")
                    )
        item = upsert_from_activity(activity)
        if self._registration is not None:
            await self._registration.register(item, welcome)
        else:
            await self._registry.upsert_conversation(item)
        log.info("Registered %s conversation %s (tenant %s)", scope.value, conversation_id,
                 tenant or "-")

    async def on_installation_update(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        action = (activity.action or "").lower()
        tenant = tenant_of(activity)
        conversation_id = conversation_id_of(activity)
        if action in ("add", "add-upgrade"):
            await self._register(turn_context, welcome=action == "add")
        elif action == "remove":
            team_id, _ = team_of(activity)
            if scope_of(activity) is Scope.CHANNEL and team_id:
                await self._registry.forget_team(tenant, team_id)
            else:
                await self._registry.forget_conversation(tenant, conversation_id)
            log.info("App removed from %s: deleted what HeatWatch stored about it",
                     conversation_id)
        elif action == "remove-upgrade":
            team_id, _ = team_of(activity)
            if scope_of(activity) is Scope.CHANNEL and team_id:
                await self._registry.set_team_status(tenant, team_id, Status.UNINSTALLED)
            else:
                await self._registry.set_conversation_status(
                    tenant, conversation_id, Status.UNINSTALLED
                )
            log.info("App upgrade removed the bot from %s: marked uninstalled", conversation_id)
        else:
            log.debug("installationUpdate with unknown action %r ignored", activity.action)

    # members -----------------------------------------------------------------------------

    async def on_teams_members_added_dispatch(
        self, members_added: list[ChannelAccount], team_info: TeamInfo,
        turn_context: TurnContext,
    ) -> None:
        """Register the bot first (no connector call needed), then look users up; a failed
        lookup falls back to what the activity says instead of losing the event."""
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else None
        users: list[TeamsChannelAccount] = []
        for member in members_added:
            if member.id == bot_id:
                await self._register(turn_context, welcome=True)
                continue
            try:
                users.append(await TeamsInfo.get_member(turn_context, member.id))
            except Exception as error:
                log.info("Member lookup for %s failed (%s); using the activity's data",
                         member.id, error.__class__.__name__)
                users.append(TeamsChannelAccount(id=member.id, name=member.name,
                                                 aad_object_id=member.aad_object_id))
        if users:
            await self.on_teams_members_added(users, team_info, turn_context)

    async def on_teams_members_added(
        self, teams_members_added: list[TeamsChannelAccount], team_info: TeamInfo,
        turn_context: TurnContext,
    ) -> None:
        activity = turn_context.activity
        container = self._container_of(turn_context)
        if container is None:
            return  # personal chat: the user is the conversation itself
        await self._registry.upsert_members(
            [
                Member(
                    tenant_id=tenant_of(activity),
                    container_id=container,
                    user_id=m.id,
                    aad_object_id=m.aad_object_id,
                    name=m.name,
                    user_principal_name=getattr(m, "user_principal_name", None),
                    email=getattr(m, "email", None),
                )
                for m in teams_members_added
            ]
        )

    async def on_teams_members_removed(
        self, teams_members_removed: list[TeamsChannelAccount], team_info: TeamInfo,
        turn_context: TurnContext,
    ) -> None:
        activity = turn_context.activity
        tenant = tenant_of(activity)
        bot_id = activity.recipient.id if activity.recipient else None
        container = self._container_of(turn_context)
        for member in teams_members_removed:
            if member.id == bot_id:
                team_id, _ = team_of(activity)
                if scope_of(activity) is Scope.CHANNEL and team_id:
                    await self._registry.set_team_status(tenant, team_id, Status.REMOVED)
                else:
                    await self._registry.set_conversation_status(
                        tenant, conversation_id_of(activity), Status.REMOVED
                    )
                log.info("Bot removed from %s: no longer deliverable", container or
                         conversation_id_of(activity))
            elif container is not None:
                await self._registry.remove_member(tenant, container, member.id)

    @staticmethod
    def _container_of(turn_context: TurnContext) -> str | None:
        """Members belong to the team (team scope) or to the group chat."""
        activity = turn_context.activity
        scope = scope_of(activity)
        if scope is Scope.CHANNEL:
            return team_of(activity)[0] or conversation_id_of(activity)
        if scope is Scope.GROUP_CHAT:
            return conversation_id_of(activity)
        return None

    # channels ----------------------------------------------------------------------------

    async def on_teams_channel_created(
        self, channel_info: ChannelInfo, team_info: TeamInfo, turn_context: TurnContext
    ) -> None:
        await self._upsert_channel(turn_context, channel_info, Status.ACTIVE)

    async def on_teams_channel_renamed(
        self, channel_info: ChannelInfo, team_info: TeamInfo, turn_context: TurnContext
    ) -> None:
        await self._upsert_channel(turn_context, channel_info, None)

    async def on_teams_channel_deleted(
        self, channel_info: ChannelInfo, team_info: TeamInfo, turn_context: TurnContext
    ) -> None:
        await self._upsert_channel(turn_context, channel_info, Status.REMOVED)

    async def on_teams_channel_restored(
        self, channel_info: ChannelInfo, team_info: TeamInfo, turn_context: TurnContext
    ) -> None:
        await self._upsert_channel(turn_context, channel_info, Status.ACTIVE)

    async def _upsert_channel(
        self, turn_context: TurnContext, channel: ChannelInfo | dict | None,
        status: Status | None,
    ) -> None:
        """Create or update one channel of the team; `status=None` keeps the stored status."""
        activity = turn_context.activity
        if isinstance(channel, dict):
            channel_id, name = channel.get("id"), channel.get("name")
        else:
            channel_id, name = getattr(channel, "id", None), getattr(channel, "name", None)
        if not channel_id:
            log.debug("Channel event without a channel id ignored")
            return
        tenant = tenant_of(activity)
        team_id, team_name = team_of(activity)
        if team_id and await self._registry.get_team(tenant, team_id) is None:
            await self._registry.upsert_team(tenant, team_id, team_name)
        known = await self._registry.get_conversation(tenant, channel_id)
        new_status = status or (known.own_status if known else Status.ACTIVE)
        await self._registry.upsert_conversation(
            upsert_from_activity(activity, conversation_id=channel_id, scope=Scope.CHANNEL,
                                 channel_name=name, status=new_status)
        )
        log.info("Channel %s (%s) is %s", channel_id, name or "-", new_status.value)

    # teams -------------------------------------------------------------------------------

    async def _team_status(self, turn_context: TurnContext, status: Status) -> None:
        activity = turn_context.activity
        team_id, team_name = team_of(activity)
        if not team_id:
            return
        await self._registry.upsert_team(tenant_of(activity), team_id, team_name, status)
        log.info("Team %s (%s) is %s", team_id, team_name or "-", status.value)

    async def on_teams_team_renamed(self, team_info: TeamInfo, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        team_id, team_name = team_of(activity)
        if not team_id:
            return
        tenant = tenant_of(activity)
        known = await self._registry.get_team(tenant, team_id)
        await self._registry.upsert_team(tenant, team_id, team_name,
                                         known.status if known else Status.ACTIVE)
        await self._registry.rename_team(tenant, team_id, team_name)

    async def on_teams_team_deleted(self, team_info: TeamInfo, turn_context: TurnContext) -> None:
        await self._team_status(turn_context, Status.REMOVED)

    async def on_teams_team_hard_deleted(
        self, team_info: TeamInfo, turn_context: TurnContext
    ) -> None:
        team_id, _ = team_of(turn_context.activity)
        if team_id:
            await self._registry.forget_team(tenant_of(turn_context.activity), team_id)
            log.info("Team %s permanently deleted: deleted what HeatWatch stored about it",
                     team_id)

    async def on_teams_team_archived(self, team_info: TeamInfo, turn_context: TurnContext) -> None:
        await self._team_status(turn_context, Status.PAUSED)

    async def on_teams_team_unarchived(
        self, team_info: TeamInfo, turn_context: TurnContext
    ) -> None:
        await self._team_status(turn_context, Status.ACTIVE)

    async def on_teams_team_restored(self, team_info: TeamInfo, turn_context: TurnContext) -> None:
        await self._team_status(turn_context, Status.ACTIVE)

    # reactions ---------------------------------------------------------------------------

    def _reactions(
        self, reactions: list[MessageReaction], turn_context: TurnContext
    ) -> list[Reaction]:
        activity = turn_context.activity
        user = activity.from_property
        if not activity.reply_to_id or user is None:
            return []
        return [
            Reaction(
                tenant_id=tenant_of(activity),
                conversation_id=conversation_id_of(activity),
                message_id=activity.reply_to_id,
                user_id=user.id,
                reaction_type=reaction.type,
                user_aad_object_id=user.aad_object_id,
            )
            for reaction in reactions
            if reaction.type
        ]

    async def on_reactions_added(
        self, message_reactions: list[MessageReaction], turn_context: TurnContext
    ) -> None:
        for reaction in self._reactions(message_reactions, turn_context):
            await self._registry.add_reaction(reaction)
        await self._react_on_alert(message_reactions, turn_context, acknowledge=True)

    async def on_reactions_removed(
        self, message_reactions: list[MessageReaction], turn_context: TurnContext
    ) -> None:
        for reaction in self._reactions(message_reactions, turn_context):
            await self._registry.remove_reaction(reaction)
        await self._react_on_alert(message_reactions, turn_context, acknowledge=False)

    async def _react_on_alert(self, message_reactions: list[MessageReaction],
                              turn_context: TurnContext, acknowledge: bool) -> None:
        """A 'like' on an alert card acknowledges the alert; taking it back un-acknowledges."""
        activity = turn_context.activity
        if self._actions is None or not activity.reply_to_id:
            return
        if not any(r.type == "like" for r in message_reactions):
            return
        alert_id = await self._actions.alerts.alert_of_card(
            tenant_of(activity), conversation_id_of(activity), activity.reply_to_id)
        if alert_id is None:
            return
        actor = self._actor(turn_context)
        outcome = await (self._actions.acknowledge(alert_id, actor) if acknowledge else
                         self._actions.unacknowledge(alert_id, actor))
        await reply(turn_context, MessageFactory.text(outcome.text))

    # messages and the rest ---------------------------------------------------------------

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        text = TurnContext.remove_recipient_mention(turn_context.activity) or ""
        if self._commands is None:
            await reply(turn_context, MessageFactory.text(HELP_TEXT))
            return
        answer = await self._commands.run(text.strip(), self._actor(turn_context))
        if answer.card is not None:
            await reply(turn_context,
                        MessageFactory.attachment(CardFactory.adaptive_card(answer.card)))
        else:
            await reply(turn_context, MessageFactory.text(answer.text))

    # card buttons (Universal Actions) ----------------------------------------------------

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse | None:
        if turn_context.activity.name != "adaptiveCard/action":
            return await super().on_invoke_activity(turn_context)
        return InvokeResponse(status=HTTPStatus.OK,
                              body=await self._card_action(turn_context))

    async def _card_action(self, turn_context: TurnContext) -> InvokeResponseJson:
        """The `adaptiveCard/action` response body: the refreshed card, or a message."""
        value = turn_context.activity.value
        value = value if isinstance(value, dict) else {}
        action = value.get("action")
        action = action if isinstance(action, dict) else {}
        data = action.get("data")
        data = data if isinstance(data, dict) else {}
        verb, alert_id = action.get("verb"), data.get("alertId")
        if action.get("type") != "Action.Execute" or not isinstance(alert_id, str):
            return _invoke_message(HTTPStatus.BAD_REQUEST, "That button is not one of mine.")
        if self._actions is None:
            return _invoke_message(HTTPStatus.SERVICE_UNAVAILABLE, "Alerts are not available.")
        actor = self._actor(turn_context)
        hours = _hours(data.get("hours"))
        if verb in ("silence", "expire-silence"):
            return await self._silence_action(verb, alert_id, hours, actor)
        if verb == "snooze" and hours is None:
            return _invoke_message(HTTPStatus.BAD_REQUEST,
                                   f"Snooze for 1 to {HOLD_MAX_HOURS:g} hours.")
        if verb not in ("ack", "unack", "snooze", "unsnooze"):
            return _invoke_message(HTTPStatus.BAD_REQUEST, "That button is not one of mine.")
        outcome = await self._alert_action(str(verb), alert_id, hours, actor)
        if outcome.alert is None or not outcome.changed:
            return _invoke_message(HTTPStatus.OK, outcome.text)
        return await self._card_here(alert_id, actor)

    async def _alert_action(self, verb: str, alert_id: str, hours: float | None,
                            actor: Actor) -> Outcome:
        """A card button: the same actions (and texts) as the chat commands and reactions."""
        assert self._actions is not None
        if verb == "ack":
            return await self._actions.acknowledge(alert_id, actor)
        if verb == "unack":
            return await self._actions.unacknowledge(alert_id, actor)
        if verb == "snooze":
            assert hours is not None  # checked by _card_action
            return await self._actions.snooze(alert_id, hours * 3600, actor)
        return await self._actions.unsnooze(alert_id, actor)

    async def _card_here(self, alert_id: str, actor: Actor,
                         notice: str = "") -> InvokeResponseJson:
        """The invoke answer: the alert's card as this conversation sees it, the same
        `IncidentView` the delivery worker renders (its snooze, silence and chart)."""
        assert self._actions is not None
        view = await self._actions.access.view(alert_id, actor, self._actions.charts)
        if view is None:
            return _invoke_message(HTTPStatus.OK, not_found_here(alert_id))
        return {"statusCode": 200, "type": CARD_CONTENT_TYPE, "value": view.card(notice=notice)}

    async def _silence_action(self, verb: str, alert_id: str, hours: float | None,
                              actor: Actor) -> InvokeResponseJson:
        """*Silence 1 h / 24 h* and *Expire silence* (Alertmanager incidents): the notifier
        makes or expires the silence; the answer is the card, saying what went wrong if so."""
        assert self._actions is not None
        silences = self._actions.silences
        if silences is None:
            return _invoke_message(HTTPStatus.SERVICE_UNAVAILABLE, "Silences are not available.")
        if verb == "silence" and hours is None:
            return _invoke_message(HTTPStatus.BAD_REQUEST,
                                   f"Silence for 1 to {HOLD_MAX_HOURS:g} hours.")
        if await self._actions.access.view(alert_id, actor, what=verb) is None:
            return _invoke_message(HTTPStatus.OK, not_found_here(alert_id))
        if verb == "silence":
            assert hours is not None
            outcome = await silences.silence(alert_id, hours, actor.name)
        else:
            outcome = await silences.expire(alert_id, actor.name)
        return await self._card_here(alert_id, actor, outcome.problem)

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        event = (activity.channel_data or {}).get("eventType") if isinstance(
            activity.channel_data, dict) else None
        if not activity.members_added and not activity.members_removed and event not in {
            "channelCreated", "channelRenamed", "channelDeleted", "channelRestored",
            "teamRenamed", "teamDeleted", "teamHardDeleted", "teamArchived", "teamUnarchived",
            "teamRestored",
        }:
            log.debug("conversationUpdate %r has no effect on the registry", event)
        await super().on_conversation_update_activity(turn_context)

    async def on_event(self, turn_context: TurnContext) -> None:
        log.debug("Event %r ignored", turn_context.activity.name)

    async def on_unrecognized_activity_type(self, turn_context: TurnContext) -> None:
        log.debug("Activity type %r ignored", turn_context.activity.type)
