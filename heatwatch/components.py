"""Pieces both the server and the command-line tools build from settings."""

from __future__ import annotations

from functools import partial

from bots.references import personal_chat_reference
from common.metrics import Metrics
from common.settings import Settings
from common.tokens import TokenSource
from notifier.install.graph import GraphInstaller, graph_client
from storage.registry import ConversationRegistry


def graph_installer(settings: Settings, tokens: TokenSource,
                    registry: ConversationRegistry,
                    metrics: Metrics | None = None) -> GraphInstaller:
    """Graph self-installation with the bot's identity; references come from `bots/`."""
    return GraphInstaller(
        graph_client(tokens, settings.cloud.graph_base_url,
                     metrics.graph_request if metrics is not None else None), registry,
        partial(personal_chat_reference, settings.app_id),
        tenant_id=settings.tenant_id, manifest_id=settings.teams_app_id,
        catalog_app_id=settings.teams_catalog_app_id,
        default_service_url=settings.cloud.teams_service_url,
        graph_base_url=settings.cloud.graph_base_url)
