"""Install HeatWatch for the people who must get alerts, through Microsoft Graph, and keep a
conversation reference for each of them even if Teams' conversationUpdate never arrived.

Per recipient (AAD object id or UPN):
  GET  /users/{id}/teamwork/installedApps?$expand=teamsApp&$filter=teamsApp/externalId eq '<app>'
  POST /users/{id}/teamwork/installedApps
       {"teamsApp@odata.bind": ".../appCatalogs/teamsApps/<catalog id>"}
       (201 and 409 both mean installed)
  GET  /users/{id}/teamwork/installedApps/{installation id}/chat
then store a reference for that chat unless the registry already has a usable one.

Permission: application `TeamsAppInstallation.ReadWriteSelfForUser.All` with admin consent, and
the manifest's `webApplicationInfo.id` must be the bot's app id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from msgraph.generated.app_catalogs.teams_apps.teams_apps_request_builder import (
    TeamsAppsRequestBuilder,
)
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.user_scope_teams_app_installation import (
    UserScopeTeamsAppInstallation,
)
from msgraph.generated.users.item.teamwork.installed_apps.installed_apps_request_builder import (
    InstalledAppsRequestBuilder,
)
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient

from common.errors import HeatWatchError
from common.tokens import TokenSource
from common.wire import ConversationReferenceJson
from storage.models import ConversationUpsert, Scope, Status
from storage.registry import ConversationRegistry

log = logging.getLogger(__name__)

PERMISSION = "TeamsAppInstallation.ReadWriteSelfForUser.All"


class GraphError(HeatWatchError):
    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class _TokenProvider(AccessTokenProvider):
    """kiota's Azure provider refuses non-https hosts; this one serves any configured Graph
    host (a sovereign cloud, or the tests' stand-in) from HeatWatch's token source."""

    def __init__(self, tokens: TokenSource, graph_base_url: str) -> None:
        self._tokens = tokens
        self._scope = graph_base_url.rstrip("/")
        self._hosts = AllowedHostsValidator([urlparse(graph_base_url).netloc])

    async def get_authorization_token(self, uri: str,
                                      additional_authentication_context: dict[str, Any] = {},  # noqa: B006
                                      ) -> str:
        return await self._tokens.token(self._scope)

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self._hosts


def graph_client(tokens: TokenSource, graph_base_url: str,
                 on_response: Callable[[bool], None] | None = None) -> GraphServiceClient:
    """`on_response(ok)` is called with each Graph answer (after the SDK's own retries)."""
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(
        _TokenProvider(tokens, graph_base_url)))
    if on_response is not None:
        async def counted(response: httpx.Response) -> None:
            on_response(response.status_code < 400)

        adapter._http_client.event_hooks["response"].append(counted)
    adapter.base_url = graph_base_url.rstrip("/") + "/v1.0"
    return GraphServiceClient(request_adapter=adapter)


@dataclass(frozen=True)
class InstallResult:
    recipient: str
    user_id: str
    installed_now: bool
    chat_id: str
    reference_stored: bool

    def describe(self) -> str:
        installed = "installed the app" if self.installed_now else "app already installed"
        stored = "stored a new reference" if self.reference_stored else "reference was current"
        return f"{self.recipient}: {installed}; chat {self.chat_id}; {stored}"


def graph_error(error: ODataError, what: str, permission: str = PERMISSION) -> GraphError:
    status = int(error.response_status_code or 0)
    detail = error.error.message if error.error and error.error.message else str(error)
    headers = error.response_headers or {}
    retry = headers.get("Retry-After") or headers.get("retry-after")
    retry_after = float(retry) if retry and str(retry).isdigit() else None
    if status == 403:
        message = (f"Graph refused {what} (403 {detail}). Grant the bot's app registration the "
                   f"application permission {permission} with admin consent, and make sure the "
                   "manifest's webApplicationInfo.id is the bot's app id.")
    elif status == 404:
        message = f"Graph found nothing for {what} (404 {detail})."
    elif status == 429:
        message = f"Graph throttled {what} (429); retry after {retry_after or 'a while'} s."
    else:
        message = f"Graph failed {what} (HTTP {status} {detail})."
    return GraphError(status, message, retry_after)


@dataclass(frozen=True)
class PersonalChat:
    """The bot's 1:1 chat with a person, as Graph reports it."""

    tenant_id: str
    chat_id: str
    user_aad_object_id: str
    service_url: str


# Builds the chat platform's conversation reference (Bot Framework JSON) for such a chat:
# `bots/` builds references, so the installer is handed a builder.
ReferenceBuilder = Callable[[PersonalChat], ConversationReferenceJson]


class GraphInstaller:
    def __init__(self, client: GraphServiceClient, registry: ConversationRegistry,
                 reference_for: ReferenceBuilder, *,
                 tenant_id: str, manifest_id: str, catalog_app_id: str = "",
                 default_service_url: str, graph_base_url: str) -> None:
        self._graph = client
        self._registry = registry
        self._reference_for = reference_for
        self._tenant = tenant_id
        self._manifest_id = manifest_id
        self._catalog_id = catalog_app_id
        self._service_url = default_service_url
        self._graph_base = graph_base_url.rstrip("/")

    async def ensure(self, recipient: str) -> InstallResult:
        """Make sure `recipient` has the app and HeatWatch has a reference to their chat."""
        try:
            user = await self._graph.users.by_user_id(recipient).get()
        except ODataError as error:
            raise graph_error(error, f"the user {recipient}") from None
        user_id = (user.id if user else None) or recipient
        installations = self._graph.users.by_user_id(user_id).teamwork.installed_apps
        installation_id = await self._find_installation(user_id)
        installed_now = False
        if installation_id is None:
            body = UserScopeTeamsAppInstallation(additional_data={
                "teamsApp@odata.bind":
                    f"{self._graph_base}/v1.0/appCatalogs/teamsApps/{await self._catalog()}"})
            try:
                await installations.post(body)
                installed_now = True
            except ODataError as error:
                if int(error.response_status_code or 0) != 409:  # 409: already installed
                    raise graph_error(error, f"installing the app for {recipient}") from None
            installation_id = await self._find_installation(user_id)
            if installation_id is None:
                raise GraphError(404, f"the app is still not listed for {recipient} after "
                                      "installing it")
        try:
            chat = await installations.by_user_scope_teams_app_installation_id(
                installation_id).chat.get()
        except ODataError as error:
            raise graph_error(error, f"the chat of {recipient}") from None
        chat_id = chat.id if chat and chat.id else ""
        stored = await self._remember(chat_id, user_id, user.display_name if user else None)
        return InstallResult(recipient, user_id, installed_now, chat_id, stored)

    async def _find_installation(self, user_id: str) -> str | None:
        query = InstalledAppsRequestBuilder.InstalledAppsRequestBuilderGetQueryParameters(
            expand=["teamsApp"], filter=f"teamsApp/externalId eq '{self._manifest_id}'")
        config = InstalledAppsRequestBuilder.InstalledAppsRequestBuilderGetRequestConfiguration(
            query_parameters=query)
        try:
            page = await self._graph.users.by_user_id(user_id).teamwork.installed_apps.get(
                request_configuration=config)
        except ODataError as error:
            raise graph_error(error, f"the installed apps of {user_id}") from None
        for installation in (page.value if page and page.value else []):
            if installation.id:
                return installation.id
        return None

    async def _catalog(self) -> str:
        if self._catalog_id:
            return self._catalog_id
        query = TeamsAppsRequestBuilder.TeamsAppsRequestBuilderGetQueryParameters(
            filter=f"externalId eq '{self._manifest_id}'")
        config = TeamsAppsRequestBuilder.TeamsAppsRequestBuilderGetRequestConfiguration(
            query_parameters=query)
        try:
            page = await self._graph.app_catalogs.teams_apps.get(request_configuration=config)
        except ODataError as error:
            raise graph_error(error, "the org app catalog") from None
        apps = page.value if page and page.value else []
        if not apps or not apps[0].id:
            raise GraphError(404, f"no app with manifest id {self._manifest_id} in the org's "
                                  "app catalog: publish the HeatWatch package to the catalog, "
                                  "or set TEAMS_CATALOG_APP_ID")
        self._catalog_id = apps[0].id
        return self._catalog_id

    async def _remember(self, chat_id: str, user_id: str, name: str | None) -> bool:
        """Store a reference for the chat unless a usable one exists (one entry per chat),
        with the person's display name (what escalation notes and cards call them)."""
        known = await self._registry.get_conversation(self._tenant, chat_id)
        if known is not None and known.status is Status.ACTIVE:
            return False
        service_url = known.service_url if known else await self._tenant_service_url()
        reference = self._reference_for(PersonalChat(self._tenant, chat_id, user_id, service_url))
        await self._registry.upsert_conversation(ConversationUpsert(
            tenant_id=self._tenant, conversation_id=chat_id, scope=Scope.PERSONAL,
            service_url=service_url, reference=reference, user_aad_object_id=user_id,
            user_name=name or None))
        log.info("Stored a reference to the chat with %s (from Graph)", user_id)
        return True

    async def _tenant_service_url(self) -> str:
        for conversation in await self._registry.list_conversations(tenant_id=self._tenant):
            if conversation.service_url:
                return conversation.service_url
        return self._service_url
