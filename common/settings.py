"""One typed settings object, read strictly from the environment and an optional `.env` file.

Every setting is declared once, as a field of the dataclasses below: `setting(...)` gives its
environment name, kind, default, bounds and help. `load_settings` reads that table
(`settings_table()`), and docs/configuration.md's table and `.env.example` are generated from
it (`python -m heatwatch.settingsdoc`; tests/unit/test_settings_table.py checks them by value).
The checks between settings (credentials that go together, loopback in anonymous mode) follow
the table in `load_settings`. Every problem is reported at start, all at once, naming the
variable and what it expects. Real environment variables win over the `.env` file. Nothing
here runs at import time.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass, replace
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from common.errors import ConfigError
from common.logs import redacted_url

T = TypeVar("T")

DEFAULT_DATABASE_URL = "sqlite:///./data/heatwatch.db"
DEFAULT_PORT = 3978

# The sections of `.env.example` (and the order of docs/configuration.md's table), each with
# the comment that opens it.
IDENTITY = "Bot identity (Azure Bot resource / Entra app registration)"
SERVER = "HTTP server"
STORAGE = "Storage"
CLOUD = "Cloud endpoints"
MONITORING = "Temperature monitoring"
INFLUX = "InfluxDB"
DELIVERY = "Delivery"
RETENTION = "Retention"
GRAPH = "Proactive installation through Microsoft Graph"
ACCESS = "Who may see and act on every incident in chat"
PACKAGE = "Teams app package (python -m heatwatch package)"
METRICS = "Prometheus metrics (/metrics)"
INBOUND = "Alert receivers (POST /api/alerts/<receiver>)"
SECTIONS: dict[str, str] = {
    IDENTITY: "Empty MicrosoftAppId = anonymous local mode: no token checks, listens on "
              "127.0.0.1 only (for Microsoft 365 Agents Playground). Set it for Teams.",
    SERVER: "",
    STORAGE: "",
    CLOUD: "BOT_CLOUD picks a preset; the settings after it override single endpoints "
           "(sovereign clouds, or local stand-ins in tests). Uncomment only to override it.",
    MONITORING: "",
    INFLUX: "influxql: InfluxDB 1.x and 3.x (HTTP /query; database + optional token or "
            "user/password). flux: InfluxDB 2.x and Cloud (org + bucket + token).",
    DELIVERY: "",
    RETENTION: "",
    GRAPH: "People who must get alerts without ever opening the bot. Installing needs "
           "MicrosoftAppId and the application permission "
           "TeamsAppInstallation.ReadWriteSelfForUser.All (admin consent).",
    ACCESS: "",
    PACKAGE: "TEAMS_APP_ID is the package's id; MicrosoftAppId is its botId and "
             "webApplicationInfo.id. Developer URLs must be https.",
    METRICS: "Anonymous local mode serves /metrics on the bot's port. With MicrosoftAppId "
             "set, /metrics is served only with a bearer token or on its own port (else 404, "
             "and the start log says so).",
    INBOUND: "Each receiver is off (404) until it has credentials: a bearer token or HTTP "
             "basic user and password, compared in constant time and never logged. "
             "<RECEIVER>_WEBHOOK_OPEN=true opens one without credentials: anonymous local "
             "mode only.",
}


class Kind(Enum):
    """How a setting's text is read (each kind is one `EnvReader` method)."""

    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    FLAG = "flag"
    CHOICE = "choice"
    URL = "url"
    NAMES = "names"  # comma-separated, blanks dropped
    HOSTS = "hosts"  # comma-separated host names, each optionally starting with `*.`
    PATH = "path"
    PORT = "port"  # a port, or unset (None)


@dataclass(frozen=True)
class Spec:
    """One row of the settings table. `env` may hold `{RECEIVER}` (one variable per alert
    receiver, see `ReceiverSettings`)."""

    env: str
    kind: Kind
    section: str
    help: str
    low: float | None = None
    high: float | None = None
    options: Mapping[str, Any] | None = None  # CHOICE: the accepted words and their values
    schemes: tuple[str, ...] = ("https", "http")  # URL
    shown: str = ""  # the documented default when it is not the plain value
    example: str | None = None  # the `.env.example` value when it is not the plain default
    preset: bool = False  # the default comes from BOT_CLOUD's preset
    secret: bool = False  # kept out of `repr` (and so never logged through it)

    @property
    def per_receiver(self) -> bool:
        """One variable per alert receiver (`<RECEIVER>_WEBHOOK_TOKEN`)."""
        return "{RECEIVER}" in self.env

    @property
    def bounds(self) -> str:
        """"from 1 to 100", or "" for a setting without bounds."""
        if self.low is None or self.high is None:
            return ""
        return f"{number_text(self.low)} to {number_text(self.high)}"

    def read(self, env: EnvReader, default: Any, name: str) -> Any:
        low, high = self.low if self.low is not None else 0, self.high or 0
        if self.kind is Kind.INTEGER:
            return env.integer(name, default, int(low), int(high))
        if self.kind is Kind.NUMBER:
            return env.number(name, default, low, high)
        if self.kind is Kind.FLAG:
            return env.flag(name, default)
        if self.kind is Kind.CHOICE:
            return env.choice(name, default, self.options or {})
        if self.kind is Kind.URL:
            return env.url(name, default, self.schemes)
        if self.kind is Kind.NAMES:
            return tuple(part.strip() for part in env.text(name).split(",") if part.strip())
        if self.kind is Kind.HOSTS:
            return _host_patterns(env, name, default)
        if self.kind is Kind.PATH:
            return Path(env.text(name, str(default)))
        if self.kind is Kind.PORT:
            port = env.integer(name, -1, int(low), int(high))
            return None if port < 0 else port
        return env.text(name, default)


def number_text(value: float) -> str:
    """1, 0.01, 2592000: as people write them (never 2.592e+06)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


SETTING = "heatwatch.setting"  # the key of a field's Spec in its metadata


def setting(env: str, default: Any = MISSING, *, kind: Kind = Kind.TEXT, section: str,
            help: str, low: float | None = None, high: float | None = None,
            options: Mapping[str, Any] | None = None, schemes: tuple[str, ...] = ("https", "http"),
            shown: str = "", example: str | None = None, preset: bool = False,
            secret: bool = False) -> Any:
    """A dataclass field that is one row of the settings table."""
    spec = Spec(env, kind, section, help, low, high, options, schemes, shown, example, preset,
                secret)
    metadata = {SETTING: spec}
    if default is MISSING:
        return field(metadata=metadata, repr=not secret)
    return field(default=default, metadata=metadata, repr=not secret)


class AppType(StrEnum):
    """`MicrosoftAppType`: how the bot proves its identity to the Bot Connector."""

    MULTI_TENANT = "MultiTenant"
    SINGLE_TENANT = "SingleTenant"
    USER_ASSIGNED_MSI = "UserAssignedMSI"


@dataclass(frozen=True)
class BotCloud:
    """Endpoints of the Bot Framework cloud the bot is in (public, US Gov, or a test stand-in).
    Every one defaults to the BOT_CLOUD preset (CLOUDS)."""

    openid_metadata_url: str = setting(
        "BOT_OPENID_METADATA_URL", kind=Kind.URL, section=CLOUD, preset=True,
        help="OpenID metadata of the Bot Framework channel (signing keys).")
    token_issuer: str = setting(
        "BOT_TOKEN_ISSUER", section=CLOUD, preset=True,
        help="Expected `iss` of channel tokens.")
    emulator_openid_metadata_url: str = setting(
        "BOT_EMULATOR_OPENID_METADATA_URL", kind=Kind.URL, section=CLOUD, preset=True,
        help="OpenID metadata for Entra-issued (emulator) tokens.")
    login_authority: str = setting(
        "ENTRA_AUTHORITY_HOST", kind=Kind.URL, section=CLOUD, preset=True,
        help="Entra authority for the bot's own tokens.")
    connector_scope: str = setting(
        "BOT_CONNECTOR_SCOPE", section=CLOUD, preset=True,
        help="Resource of the bot's outbound token.")
    graph_base_url: str = setting(
        "GRAPH_BASE_URL", "https://graph.microsoft.com", kind=Kind.URL, section=CLOUD,
        preset=True, help="Microsoft Graph endpoint.")
    teams_service_url: str = setting(
        "TEAMS_SERVICE_URL", "https://smba.trafficmanager.net/teams/", kind=Kind.URL,
        section=CLOUD, preset=True,
        help="Teams serviceUrl for references built from Graph (always ends in `/`).")
    # Hosts an activity's serviceUrl may name (`*.` = any subdomain): Teams' connector hosts of
    # the cloud (public and GCC; GCC High and DoD), and the Bot Framework's own (Test in Web
    # Chat). Defence in depth beside the token's `serviceurl` claim.
    service_url_hosts: tuple[str, ...] = setting(
        "BOT_SERVICE_URL_HOSTS", ("smba.trafficmanager.net", "*.trafficmanager.net",
                                  "smba.infra.gcc.teams.microsoft.com", "*.botframework.com"),
        kind=Kind.HOSTS, section=CLOUD, preset=True,
        help="Hosts an activity's `serviceUrl` may name, comma-separated, `*.` for subdomains "
             "(public: Teams worldwide and GCC, and Web Chat; `usgov`: GCC High and DoD). "
             "Others get 403 (see [Endpoints](endpoints.md)).")


CLOUDS: dict[str, BotCloud] = {
    "public": BotCloud(
        openid_metadata_url="https://login.botframework.com/v1/.well-known/openidconfiguration",
        token_issuer="https://api.botframework.com",
        emulator_openid_metadata_url=(
            "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"
        ),
        login_authority="https://login.microsoftonline.com",
        connector_scope="https://api.botframework.com",
    ),
    "usgov": BotCloud(
        openid_metadata_url="https://login.botframework.azure.us/v1/.well-known/openidconfiguration",
        token_issuer="https://api.botframework.us",
        emulator_openid_metadata_url=(
            "https://login.microsoftonline.us/cab8a31a-1906-4287-a0d8-4eef66b95f6e"
            "/v2.0/.well-known/openid-configuration"
        ),
        login_authority="https://login.microsoftonline.us",
        connector_scope="https://api.botframework.us",
        graph_base_url="https://graph.microsoft.us",
        teams_service_url="https://smba.infra.gov.teams.microsoft.us/teams/",
        service_url_hosts=("smba.infra.gov.teams.microsoft.us",
                           "smba.infra.dod.teams.microsoft.us", "*.botframework.azure.us"),
    ),
}


class QueryLanguage(StrEnum):
    INFLUXQL = "influxql"
    FLUX = "flux"


@dataclass(frozen=True)
class InfluxSettings:
    """Where temperatures are read. InfluxQL: InfluxDB 1.x/3.x; Flux: InfluxDB 2.x/Cloud."""

    url: str = setting("INFLUX_URL", "http://127.0.0.1:8086", kind=Kind.URL, section=INFLUX,
                       help="InfluxDB base URL.")
    language: QueryLanguage = setting(
        "INFLUX_QUERY_LANGUAGE", QueryLanguage.INFLUXQL, kind=Kind.CHOICE, section=INFLUX,
        options={q.value: q for q in QueryLanguage},
        help="`influxql` (InfluxDB 1.x and 3.x, HTTP `/query`) or `flux` (InfluxDB 2.x and "
             "Cloud).")
    database: str = setting("INFLUX_DATABASE", "heatwatch", section=INFLUX,
                            help="InfluxQL database.")
    org: str = setting("INFLUX_ORG", "", section=INFLUX,
                       help="Flux organization (required with `flux`).")
    bucket: str = setting("INFLUX_BUCKET", "", section=INFLUX,
                          help="Flux bucket (required with `flux`).")
    token: str = setting("INFLUX_TOKEN", "", section=INFLUX, secret=True,
                         help="API token (2.x/Cloud/3.x; required with `flux`). Never logged.")
    username: str = setting("INFLUX_USERNAME", "", section=INFLUX,
                            help="InfluxDB 1.x user, when auth is enabled.")
    password: str = setting("INFLUX_PASSWORD", "", section=INFLUX, secret=True,
                            help="InfluxDB 1.x password (with `INFLUX_USERNAME`). Never logged.")
    timeout: float = setting("INFLUX_TIMEOUT_SECONDS", 10.0, kind=Kind.NUMBER, low=0.1,
                             high=600.0, section=INFLUX, help="Per-query timeout, in seconds.")


@dataclass(frozen=True)
class PackageSettings:
    """What goes into the Teams app package besides the ids (https URLs only; a bad one is a
    problem, never silently replaced by the default)."""

    version: str = setting("APP_VERSION", "1.0.0", section=PACKAGE,
                           help="Version of the Teams app package.")
    developer_name: str = setting(
        "DEVELOPER_NAME", "HeatWatch", section=PACKAGE,
        help="The package's developer name (the placeholders here only with `package "
             "--allow-placeholders`).")
    website_url: str = setting("DEVELOPER_WEBSITE_URL", "https://heatwatch.example.com",
                               kind=Kind.URL, schemes=("https",), section=PACKAGE,
                               help="The developer's website (https only).")
    privacy_url: str = setting("DEVELOPER_PRIVACY_URL", "https://heatwatch.example.com/privacy",
                               kind=Kind.URL, schemes=("https",), section=PACKAGE,
                               help="The privacy statement (https only).")
    terms_url: str = setting("DEVELOPER_TERMS_URL", "https://heatwatch.example.com/terms",
                             kind=Kind.URL, schemes=("https",), section=PACKAGE,
                             help="The terms of use (https only).")


@dataclass(frozen=True)
class ReceiverSettings:
    """Who may post to one alert receiver: a bearer token, HTTP basic credentials, or anyone
    (`open`, anonymous local mode only). Disabled when none is set.

    Settings do not name the receivers (the source registry, notifier/inbound/sources.py,
    does; settings cannot import it): every receiver named by a variable of this table set in
    the environment is found (`InboundSettings.receivers`, by discovery, `_receivers`), read
    and checked when it exists, and the composition root warns about names no push source has
    (heatwatch/server.py)."""

    token: str = setting(
        "{RECEIVER}_WEBHOOK_TOKEN", "", section=INBOUND, secret=True,
        help="Bearer token the receiver requires (at least 16 characters; never logged). A "
             "receiver without credentials is off (404). See [Alert receivers](receivers.md).")
    user: str = setting(
        "{RECEIVER}_WEBHOOK_USER", "", section=INBOUND,
        help="HTTP basic user the receiver accepts instead of (or besides) the token; with "
             "its password.")
    password: str = setting(
        "{RECEIVER}_WEBHOOK_PASSWORD", "", section=INBOUND, secret=True,
        help="HTTP basic password (at least 12 characters; never logged); with its user.")
    open: bool = setting(
        "{RECEIVER}_WEBHOOK_OPEN", False, kind=Kind.FLAG, section=INBOUND,
        help="Accept the receiver's notifications without credentials: anonymous local mode "
             "only (with `MicrosoftAppId` set, a receiver needs a token or basic credentials).")
    # The variables set for this receiver (discovery): names only, for the start-up warning.
    variables: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.token or self.user or self.open)


@dataclass(frozen=True)
class InboundSettings:
    """The alert receivers (Alertmanager, Grafana, InfluxDB 2 checks) and the Alertmanager API
    that silences from cards go to."""

    # Every receiver some `<NAME>_WEBHOOK_*` variable names, known to a push source or not,
    # by its name in lower case (`_receivers`).
    receivers: Mapping[str, ReceiverSettings] = field(default_factory=dict)
    max_bytes: int = setting(
        "INBOUND_MAX_BYTES", 1024 * 1024, kind=Kind.INTEGER, low=1024, high=64 * 1024 * 1024,
        section=INBOUND, help="Largest notification body a receiver takes, in bytes (413 above).")
    read_timeout: float = setting(
        "INBOUND_READ_TIMEOUT_SECONDS", 30.0, kind=Kind.NUMBER, low=1.0, high=600.0,
        section=INBOUND,
        help="How long a receiver waits for a notification's whole body once the headers are "
             "in, in seconds (408 after).")
    alertmanager_url: str = setting(
        "ALERTMANAGER_URL", "", kind=Kind.URL, section=INBOUND,
        help="The Alertmanager that *Silence* buttons create silences in (API v2); empty: the "
             "`externalURL` of the notification.")
    alertmanager_token: str = setting(
        "ALERTMANAGER_API_TOKEN", "", section=INBOUND, secret=True,
        help="Bearer token for that Alertmanager's API, when it requires one (never logged). "
             "Requires `ALERTMANAGER_URL`, so it never goes to a URL a notification names.")
    alertmanager_user: str = setting(
        "ALERTMANAGER_API_USER", "", section=INBOUND,
        help="HTTP basic user for that Alertmanager's API (with its password; requires "
             "`ALERTMANAGER_URL`).")
    alertmanager_password: str = setting(
        "ALERTMANAGER_API_PASSWORD", "", section=INBOUND, secret=True,
        help="HTTP basic password for that Alertmanager's API (never logged).")

    def receiver(self, name: str) -> ReceiverSettings:
        return self.receivers.get(name) or ReceiverSettings()

    def secrets(self) -> list[str]:
        return [s for r in self.receivers.values() for s in (r.token, r.password)] + [
            self.alertmanager_token, self.alertmanager_password]


@dataclass(frozen=True)
class Settings:
    """Everything HeatWatch reads from its environment. Secrets are kept out of `repr`."""

    app_id: str = setting(
        "MicrosoftAppId", "", section=IDENTITY,
        help="The bot's Entra app (client) id. Empty = anonymous local mode.")
    app_password: str = setting(
        "MicrosoftAppPassword", "", section=IDENTITY, secret=True,
        help="Client secret of that app registration (not with `UserAssignedMSI`).")
    app_type: AppType = setting(
        "MicrosoftAppType", AppType.SINGLE_TENANT, kind=Kind.CHOICE, section=IDENTITY,
        options={t.value: t for t in AppType},
        help="`SingleTenant`, `UserAssignedMSI` (App Service / AKS managed identity whose "
             "client id is `MicrosoftAppId`), or `MultiTenant` (legacy registrations only; new "
             "multi-tenant bots can no longer be created).")
    tenant_id: str = setting(
        "MicrosoftAppTenantId", "", section=IDENTITY,
        help="Directory (tenant) id; required for `SingleTenant` and `UserAssignedMSI`.")
    host: str = setting(
        "HOST", "127.0.0.1", section=SERVER, example="",
        shown="`127.0.0.1` anonymous, `0.0.0.0` with an app id",
        help="Listen address. Anonymous mode refuses anything but loopback.")
    port: int = setting("PORT", DEFAULT_PORT, kind=Kind.INTEGER, low=0, high=65535,
                        section=SERVER, help="Listen port.")
    database_url: str = setting(  # may hold a password: out of repr
        "DATABASE_URL", DEFAULT_DATABASE_URL, section=STORAGE, secret=True,
        help="Where the registry, alert state and outbox live: `sqlite:///relative.db` or "
             "`sqlite:////absolute.db` (one process), or "
             "`postgresql://user:password@host:5432/database` (several replicas; see "
             "[Running several replicas](operating.md#running-several-replicas-postgresql)). "
             "The password is never logged.")
    database_pool_size: int = setting(
        "DATABASE_POOL_SIZE", 10, kind=Kind.INTEGER, low=1, high=100, section=STORAGE,
        help="PostgreSQL connections per replica.")
    log_level: str = setting(
        "LOG_LEVEL", "INFO", kind=Kind.CHOICE, section=SERVER,
        options={name: name for name in ("DEBUG", "INFO", "WARNING", "ERROR")},
        help="`DEBUG`, `INFO`, `WARNING` or `ERROR`. Secrets and tokens are redacted at every "
             "level.")
    cloud: BotCloud = setting(
        "BOT_CLOUD", CLOUDS["public"], kind=Kind.CHOICE, section=CLOUD, options=CLOUDS,
        shown="`public`", example="public",
        help="`public` or `usgov`: presets for the endpoints below.")
    shutdown_timeout: float = setting(
        "SHUTDOWN_TIMEOUT_SECONDS", 10.0, kind=Kind.NUMBER, low=0.0, high=600.0, section=SERVER,
        help="How long in-flight requests (and sends) may run after SIGTERM/SIGINT, in "
             "seconds.")
    influx: InfluxSettings = InfluxSettings()
    monitoring: bool = setting("MONITORING_ENABLED", True, kind=Kind.FLAG, section=MONITORING,
                               help="Poll InfluxDB and evaluate rules.")
    rules_file: Path = setting(
        "RULES_FILE", Path("rules.toml"), kind=Kind.PATH, section=MONITORING,
        help="The alert rules (TOML; see [Rules and monitoring](rules.md)).")
    poll_interval: float = setting(
        "POLL_INTERVAL_SECONDS", 15.0, kind=Kind.NUMBER, low=1.0, high=86400.0,
        section=MONITORING,
        help="Seconds between polls. A slow poll delays the next one; polls never overlap.")
    source_down_after: float = setting(
        "SOURCE_DOWN_AFTER_SECONDS", 120.0, kind=Kind.NUMBER, low=0.0, high=86400.0,
        section=MONITORING,
        help="How long InfluxDB may fail before a `source-down` alert (then `source-up` on "
             "recovery), in seconds.")
    incident_update_window: float = setting(
        "INCIDENT_UPDATE_WINDOW_SECONDS", 10.0, kind=Kind.NUMBER, low=0.0, high=3600.0,
        section=DELIVERY,
        help="Changes to an open incident (sensors joining or recovering, de-escalation, "
             "values) are gathered this long, then sent as one card update per chat; a first "
             "post, an escalation and the end go out at once (like Alertmanager's "
             "`group_interval`).")
    audit_retention_days: float = setting(
        "AUDIT_RETENTION_DAYS", 90.0, kind=Kind.NUMBER, low=1.0, high=36500.0,
        section=RETENTION,
        help="How long the audit trail (who acknowledged, snoozed, muted, subscribed; "
             "incidents fired, escalated, resolved) and so `history` go back, in days; older "
             "entries are deleted hourly.")
    delivery_retention_hours: float = setting(
        "DELIVERY_RETENTION_HOURS", 24.0, kind=Kind.NUMBER, low=0.1, high=87600.0,
        section=RETENTION,
        help="Sent and given-up deliveries are deleted this many hours after they finished; "
             "pending ones never, nor those of an incident still open. Until then `python -m "
             "heatwatch deliveries` lists them and a re-published event is not sent twice.")
    incident_retention_days: float = setting(
        "INCIDENT_RETENTION_DAYS", 30.0, kind=Kind.NUMBER, low=0.01, high=36500.0,
        section=RETENTION,
        help="Resolved incidents, with their cards, series and silences, are deleted this many "
             "days after they ended (0.01 is about 15 minutes); an old card's buttons then "
             "answer \"That alert is no longer known\". The audit trail keeps "
             "`AUDIT_RETENTION_DAYS`.")
    reaction_retention_days: float = setting(
        "REACTION_RETENTION_DAYS", 30.0, kind=Kind.NUMBER, low=0.01, high=36500.0,
        section=RETENTION,
        help="Reactions to the bot's messages are deleted this many days after they were made.")
    tenant_send_limit: float = setting(
        "TENANT_SEND_LIMIT_PER_SECOND", 50.0, kind=Kind.NUMBER, low=0.0, high=10000.0,
        section=DELIVERY,
        help="Teams' per-app-per-tenant cap in messages per second (0 = none), for all "
             "replicas together: each keeps to its share. The per-conversation limits (7/1 s, "
             "8/2 s, 60/30 s, 1800/h) always apply.")
    delivery_concurrency: int = setting(
        "DELIVERY_CONCURRENCY", 64, kind=Kind.INTEGER, low=1, high=1000, section=DELIVERY,
        help="Sends in flight at once, across conversations (one at a time within one).")
    delivery_max_attempts: int = setting(
        "DELIVERY_MAX_ATTEMPTS", 8, kind=Kind.INTEGER, low=1, high=100, section=DELIVERY,
        help="Attempts for 5xx/412/timeouts before a delivery is parked as dead (429s may "
             "take up to 30).")
    delivery_give_up_after: float = setting(
        "DELIVERY_GIVE_UP_AFTER_SECONDS", 86400.0, kind=Kind.NUMBER, low=0.0,
        high=30 * 86400.0, section=DELIVERY,
        help="...and not before it has waited this long since it was queued, so a connector "
             "outage shorter than a day loses nothing. 429s keep the attempt cap alone.")
    delivery_backoff: float = setting(
        "DELIVERY_BACKOFF_SECONDS", 1.0, kind=Kind.NUMBER, low=0.01, high=600.0,
        section=DELIVERY,
        help="First retry delay; doubles per attempt with jitter, up to 5 minutes.")
    delivery_lease: float = setting(
        "DELIVERY_LEASE_SECONDS", 10.0, kind=Kind.NUMBER, low=3.0, high=3600.0,
        section=DELIVERY,
        help="How long a claimed delivery belongs to its replica unless renewed. A running "
             "replica renews its leases every third of it, so this is how long the deliveries "
             "of a replica that died wait before another sends them. Sends time out after "
             "30 s.")
    alert_recipients: tuple[str, ...] = setting(
        "ALERT_RECIPIENTS", (), kind=Kind.NAMES, section=GRAPH,
        help="People to install HeatWatch for through Graph (AAD object ids or UPNs, "
             "comma-separated), at start and every `RECONCILE_INTERVAL_SECONDS`. Needs "
             "`MicrosoftAppId`.")
    operators: tuple[str, ...] = setting(
        "OPERATORS", (), kind=Kind.NAMES, section=ACCESS,
        help="Who sees and acts on every incident in chat: AAD object ids of people (wherever "
             "they write or press) and/or team ids (`19:…@thread.tacv2`: every channel of that "
             "team), comma-separated. Everyone else sees and acts only on the incidents their "
             "conversation was told of; see "
             "[Who sees which incident](delivery.md#who-sees-which-incident).")
    teams_app_id: str = setting(
        "TEAMS_APP_ID", "", section=GRAPH,
        help="The Teams manifest's `id` (its externalId in the org catalog; required with "
             "`ALERT_RECIPIENTS`).")
    teams_catalog_app_id: str = setting(
        "TEAMS_CATALOG_APP_ID", "", section=GRAPH,
        help="The app's org-catalog id; empty = looked up by `TEAMS_APP_ID`.")
    activity_feed: bool = setting(
        "ACTIVITY_FEED", True, kind=Kind.FLAG, section=GRAPH,
        help="Page people through their Teams activity feed (needs the bot identity, "
             "`TEAMS_APP_ID` and `TeamsActivity.Send`); see "
             "[Paging through the activity feed](delivery.md#paging-through-the-activity-feed).")
    reconcile_interval: float = setting(
        "RECONCILE_INTERVAL_SECONDS", 3600.0, kind=Kind.NUMBER, low=10.0, high=7 * 86400.0,
        section=GRAPH, help="How often recipients are checked again, in seconds.")
    package: PackageSettings = PackageSettings()
    metrics_token: str = setting(
        "METRICS_BEARER_TOKEN", "", section=METRICS, secret=True,
        help="When set, `/metrics` requires `Authorization: Bearer <token>` (at least 16 "
             "characters; never logged). See [Operating HeatWatch](operating.md).")
    metrics_host: str = setting(
        "METRICS_HOST", "127.0.0.1", section=METRICS,
        help="Listen address of the `METRICS_PORT` listener (loopback only in anonymous mode).")
    metrics_port: int | None = setting(  # None: /metrics on the bot's port (metrics_exposure)
        "METRICS_PORT", None, kind=Kind.PORT, low=0, high=65535, section=METRICS,
        help="Serve `/metrics` on this separate port (and not on the bot's port). Keep that "
             "port internal.")
    inbound: InboundSettings = InboundSettings()

    @property
    def anonymous(self) -> bool:
        """No app id: Microsoft's local emulators talk to the bot without tokens."""
        return not self.app_id

    @property
    def token_tenant(self) -> str:
        """Where the bot's own tokens come from: its tenant, or Bot Framework's for legacy
        multi-tenant registrations."""
        return self.tenant_id or "botframework.com"

    def secrets(self) -> list[str]:
        """Values that must never appear in a log line."""
        try:
            database_password = urlparse(self.database_url).password or ""
        except ValueError:
            database_password = ""
        return [s for s in (self.app_password, self.influx.token, self.influx.password,
                            database_password, self.metrics_token,
                            *self.inbound.secrets()) if s]

    @property
    def metrics_exposure(self) -> str:
        """Where /metrics is served: "port" (its own listener), "token" (the bot's port, with
        a bearer token), "open" (the bot's port; anonymous mode) or "off" (an app id is set
        and neither a token nor a port: not on the public port)."""
        if self.metrics_port is not None:
            return "port"
        if self.metrics_token:
            return "token"
        return "open" if self.anonymous else "off"


@dataclass(frozen=True)
class Row:
    """One variable of the settings table: where its value lands on `Settings` (`path`), its
    declaration, its environment name and its default (BOT_CLOUD's rows: the public preset)."""

    path: tuple[str, ...]
    spec: Spec
    env: str
    default: Any


def _specs(cls: type[Any]) -> list[tuple[Field[Any], Spec | None]]:
    return [(f, f.metadata.get(SETTING)) for f in fields(cls)]


GENERIC_RECEIVER = "<receiver>"  # the receiver rows' name in the docs: `<RECEIVER>_WEBHOOK_TOKEN`


def settings_table(receivers: Sequence[str] = ()) -> list[Row]:
    """Every variable HeatWatch reads, in the order of its declaration; the receiver variables
    once per name in `receivers` (lower case), or once as `<RECEIVER>_WEBHOOK_*`
    (GENERIC_RECEIVER, as the docs show them) when none is given."""
    rows: list[Row] = []

    def add(cls: type[Any], path: tuple[str, ...], base: Any = None, receiver: str = "") -> None:
        for f, spec in _specs(cls):
            if spec is not None:
                default = getattr(base, f.name) if base is not None else f.default
                rows.append(Row(path + (f.name,), spec, spec.env.format(RECEIVER=receiver),
                                default))
                if f.name == "cloud":
                    add(BotCloud, path + (f.name,), CLOUDS["public"])
            elif f.name == "receivers":
                for name in receivers or (GENERIC_RECEIVER,):
                    add(ReceiverSettings, path + (f.name, name), receiver=name.upper())
            elif is_dataclass(f.default):
                add(type(f.default), path + (f.name,))

    add(Settings, ())
    return rows


def _build(env: EnvReader, cls: type[T], base: Any = None, receiver: str = "") -> T:
    """One settings dataclass read from the environment by its table rows."""
    values: dict[str, Any] = {}
    for f, spec in _specs(cls):
        if spec is not None:
            default = getattr(base, f.name) if base is not None else f.default
            values[f.name] = spec.read(env, default, spec.env.format(RECEIVER=receiver))
            if f.name == "cloud":  # a preset, then its endpoints one by one
                values[f.name] = _build(env, BotCloud, values[f.name])
        elif f.name == "receivers":
            values[f.name] = _receivers(env)
        elif is_dataclass(f.default):
            values[f.name] = _build(env, type(f.default))
    return cls(**values)


# `<NAME>_WEBHOOK_TOKEN`, `_USER`, `_PASSWORD`, `_OPEN`: the variables of ReceiverSettings.
_RECEIVER_SUFFIXES = tuple(spec.env.format(RECEIVER="") for _, spec in _specs(ReceiverSettings)
                           if spec is not None)
_RECEIVER_VARIABLE = re.compile(
    "([A-Z0-9]+)(" + "|".join(map(re.escape, _RECEIVER_SUFFIXES)) + ")")


def _receivers(env: EnvReader) -> dict[str, ReceiverSettings]:
    """Every receiver a variable `<NAME>_WEBHOOK_TOKEN|_USER|_PASSWORD|_OPEN` with a value names
    (NAME in capitals and digits; a blank value is unset, as everywhere), by `name.lower()`.
    Whether a push source has that name is the composition root's question: when the caller
    names the receivers that exist (`env.receivers`: the commands pass the source registry's),
    another name's values are neither parsed nor checked, only its variables kept for the
    warning, so another program's `SLACK_WEBHOOK_USER` never stops HeatWatch. Without that list
    (tests) every name is parsed and checked."""
    receivers: dict[str, ReceiverSettings] = {}
    for name in sorted({match.group(1) for match in map(_RECEIVER_VARIABLE.fullmatch,
                                                         env.variables()) if match}):
        variables = tuple(name + suffix for suffix in _RECEIVER_SUFFIXES
                          if env.raw(name + suffix) is not None)
        if not variables:  # blank values only
            continue
        known = env.receivers is None or name.lower() in env.receivers
        receivers[name.lower()] = replace(
            _build(env, ReceiverSettings, receiver=name) if known else ReceiverSettings(),
            variables=variables)
    return receivers


def database_url_problem(url: str) -> str:
    """What is wrong with a DATABASE_URL (never echoing its password), or ""."""
    try:
        parsed = urlparse(url)
        parsed.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as error:
        return f"DATABASE_URL={redacted_url(url)!r} is not a valid URL ({error})."
    if parsed.scheme == "sqlite":
        if not parsed.path or parsed.path == "/":
            return (f"DATABASE_URL={url!r} names no file: expected sqlite:///path/to/file.db "
                    f"(default {DEFAULT_DATABASE_URL}).")
        return ""
    if parsed.scheme in ("postgresql", "postgres"):
        if not parsed.hostname or not parsed.path.strip("/"):
            return (f"DATABASE_URL={redacted_url(url)!r} needs a host and a database: expected "
                    "postgresql://user:password@host:5432/database.")
        return ""
    return (f"DATABASE_URL={redacted_url(url)!r} is not supported: expected "
            f"sqlite:///path/to/file.db (default {DEFAULT_DATABASE_URL}) or "
            "postgresql://user:password@host:5432/database.")


_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a `.env` file: `KEY=value` lines, `#` comments, optional single or double quotes."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if not match:
            raise ConfigError(
                f"{path}:{number}: expected KEY=value, got {line[:40]!r}. "
                "Fix the line or delete it."
            )
        key, value = match.group(1), match.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


class EnvReader:
    """Reads typed values and collects every problem, so one start reports them all."""

    def __init__(self, values: Mapping[str, str],
                 receivers: Collection[str] | None = None) -> None:
        self._values = values
        self.problems: list[str] = []
        self.names: set[str] = set()  # every variable asked for
        self.receivers = receivers  # the receivers that exist, when the caller knows (_receivers)

    def variables(self) -> list[str]:
        """Every variable of the environment (for the settings found by their names)."""
        return list(self._values)

    def raw(self, name: str) -> str | None:
        self.names.add(name)
        value = self._values.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def text(self, name: str, default: str = "") -> str:
        value = self.raw(name)
        return default if value is None else value

    def _typed(self, name: str, default: T, parse: Callable[[str], T], expected: str) -> T:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parse(value)
        except (ValueError, TypeError):
            self.problems.append(f"{name}={value!r} is not valid: expected {expected}.")
            return default

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        def parse(text: str) -> int:
            number = int(text)
            if not low <= number <= high:
                raise ValueError(text)
            return number

        return self._typed(name, default, parse, f"a whole number from {low} to {high}")

    def number(self, name: str, default: float, low: float, high: float) -> float:
        def parse(text: str) -> float:
            number = float(text)
            if not low <= number <= high:
                raise ValueError(text)
            return number

        return self._typed(name, default, parse,
                           f"a number from {number_text(low)} to {number_text(high)}")

    def flag(self, name: str, default: bool) -> bool:
        table = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

        def parse(text: str) -> bool:
            return table[text.lower()] if text.lower() in table else _raise(text)

        return self._typed(name, default, parse, "true or false")

    def choice(self, name: str, default: T, options: Mapping[str, T]) -> T:
        lowered = {key.lower(): value for key, value in options.items()}

        def parse(text: str) -> T:
            return lowered[text.lower()] if text.lower() in lowered else _raise(text)

        return self._typed(name, default, parse, "one of " + ", ".join(options))

    def url(self, name: str, default: str, schemes: tuple[str, ...] = ("https", "http")) -> str:
        """A URL; a bad one is a problem naming what is wrong with it (a space, the scheme,
        no host), not only what is expected."""
        value = self.raw(name)
        if value is None:
            return default
        expected = "a URL starting with " + " or ".join(f"{s}://" for s in schemes)
        parsed = urlparse(value)
        space = next((i for i, c in enumerate(value) if c.isspace()), None)
        problem = (f"it contains a space (after {value[:space]!r}); a URL has none"
                   if space is not None else
                   f"expected {expected}" if parsed.scheme not in schemes else
                   f"it names no host: expected {parsed.scheme}://host/..."
                   if not parsed.netloc else "")
        if problem:
            self.problems.append(f"{name}={value!r} is not valid: {problem}.")
            return default
        return value.rstrip("/")

    def fail_if_any(self) -> None:
        if self.problems:
            raise ConfigError(
                "HeatWatch cannot start; fix these settings (environment or .env):\n  - "
                + "\n  - ".join(self.problems)
            )


def _raise(text: str) -> T:  # type: ignore[type-var]
    raise ValueError(text)


_LABEL = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_HOST_PATTERN = re.compile(rf"(\*\.)?{_LABEL}(\.{_LABEL})*")


def _host_patterns(env: EnvReader, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list of host names, each optionally starting with `*.`."""
    text = env.text(name)
    if not text.strip():
        return default
    patterns = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    bad = [p for p in patterns if not _HOST_PATTERN.fullmatch(p)]
    if bad:
        env.problems.append(
            f"{name} has {', '.join(map(repr, bad))}: expected host names separated by commas, "
            "each optionally starting with '*.' (e.g. smba.trafficmanager.net,*.botframework.com).")
        return default
    return patterns


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_environment(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> dict[str, str]:
    """The `.env` file (if any) overlaid by the real environment."""
    merged: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        merged.update(read_env_file(env_file))
    merged.update(os.environ if environ is None else environ)
    return merged




def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env"),
    receivers: Collection[str] | None = None,
) -> Settings:
    """Build `Settings` or raise `ConfigError` listing every bad variable and its fix.
    `receivers`: the alert receivers that exist (heatwatch/ passes the source registry's names,
    notifier/inbound/sources.py); the variables of another name are not checked (`_receivers`)."""
    env = EnvReader(load_environment(environ, env_file), receivers)
    settings = read_settings(env)
    env.fail_if_any()
    return settings


def read_settings(env: EnvReader) -> Settings:
    """The settings table read through `env`, then the checks between settings; every problem
    is left in `env.problems`."""
    settings = _build(env, Settings)
    app_id, app_type = settings.app_id, settings.app_type
    if app_id:
        if app_type is not AppType.USER_ASSIGNED_MSI and not settings.app_password:
            env.problems.append(
                f"MicrosoftAppPassword is empty but MicrosoftAppId is set and MicrosoftAppType is "
                f"{app_type.value}: set the client secret of the bot's Entra app registration, "
                "or use MicrosoftAppType=UserAssignedMSI."
            )
        if app_type is not AppType.MULTI_TENANT and not settings.tenant_id:
            env.problems.append(
                f"MicrosoftAppTenantId is empty but MicrosoftAppType is {app_type.value}: set the "
                "directory (tenant) id of the bot's Entra app registration."
            )
        if env.raw("HOST") is None:  # authenticated: reachable by the Bot Connector
            settings = replace(settings, host="0.0.0.0")
    elif settings.app_password:
        env.problems.append(
            "MicrosoftAppPassword is set but MicrosoftAppId is empty: set both, or neither for "
            "anonymous local mode."
        )
    host = settings.host
    if not app_id and not is_loopback(host):
        env.problems.append(
            f"HOST={host!r} is not allowed in anonymous local mode (no MicrosoftAppId): without "
            "authentication the bot listens on 127.0.0.1 only. Remove HOST, or set MicrosoftAppId."
        )
    problem = database_url_problem(settings.database_url)
    if problem:
        env.problems.append(problem)
    cloud = settings.cloud
    settings = replace(settings, cloud=replace(
        cloud, teams_service_url=cloud.teams_service_url.rstrip("/") + "/"))
    _check_influx(env, settings.influx)

    recipients = settings.alert_recipients
    if recipients and not app_id:
        env.problems.append(
            "ALERT_RECIPIENTS is set but MicrosoftAppId is empty: installing the app for people "
            "uses Microsoft Graph with the bot's identity. Set MicrosoftAppId (and its secret or "
            "managed identity), or remove ALERT_RECIPIENTS.")
    if recipients and not settings.teams_app_id:
        env.problems.append(
            "ALERT_RECIPIENTS is set but TEAMS_APP_ID is empty: set it to the \"id\" of the "
            "HeatWatch Teams app manifest (the app's externalId in the org catalog).")
    for operator in settings.operators:
        if not (_GUID.fullmatch(operator) or operator.startswith("19:")):
            env.problems.append(
                f"OPERATORS entry {operator!r} is neither an AAD object id (a GUID) nor a team "
                "id (19:…@thread.tacv2 or @thread.skype).")

    metrics_token, metrics_host = settings.metrics_token, settings.metrics_host
    metrics_port, port = settings.metrics_port, settings.port
    if metrics_token and len(metrics_token) < 16:
        env.problems.append("METRICS_BEARER_TOKEN is shorter than 16 characters: use a long "
                            "random value, e.g. python3 -c \"import secrets; "
                            "print(secrets.token_urlsafe(32))\".")
    if not app_id and metrics_port is not None and not is_loopback(metrics_host):
        env.problems.append(
            f"METRICS_HOST={metrics_host!r} is not allowed in anonymous local mode (no "
            "MicrosoftAppId): the metrics listener stays on loopback. Remove METRICS_HOST, or "
            "set MicrosoftAppId.")
    if metrics_port is not None and metrics_port == port and port != 0:
        env.problems.append(f"METRICS_PORT={metrics_port} is the bot's PORT: choose another "
                            "port, or remove METRICS_PORT to serve /metrics on the bot's port.")
    _check_inbound(env, settings.inbound, app_id)
    return settings


def _check_inbound(env: EnvReader, inbound: InboundSettings, app_id: str) -> None:
    """`<NAME>_WEBHOOK_TOKEN` (bearer) or `<NAME>_WEBHOOK_USER`/`_PASSWORD` (basic) enable a
    receiver; `<NAME>_WEBHOOK_OPEN=true` opens it without credentials, in anonymous local
    mode only. Plus the Alertmanager API for silences."""
    for name, receiver in inbound.receivers.items():
        prefix = f"{name.upper()}_WEBHOOK"
        token, user, password = receiver.token, receiver.user, receiver.password
        if token and len(token) < 16:
            env.problems.append(f"{prefix}_TOKEN is shorter than 16 characters: use a long "
                                "random value, e.g. python3 -c \"import secrets; "
                                "print(secrets.token_urlsafe(32))\".")
        if bool(user) != bool(password):
            env.problems.append(f"{prefix}_USER and {prefix}_PASSWORD go together: set both "
                                f"(HTTP basic authentication), or neither.")
        if password and len(password) < 12:
            env.problems.append(f"{prefix}_PASSWORD is shorter than 12 characters: use a long "
                                "random value.")
        if receiver.open and app_id:
            env.problems.append(f"{prefix}_OPEN=true is only allowed in anonymous local mode "
                                f"(no MicrosoftAppId): set {prefix}_TOKEN (or {prefix}_USER and "
                                f"{prefix}_PASSWORD) instead.")
    if bool(inbound.alertmanager_user) != bool(inbound.alertmanager_password):
        env.problems.append("ALERTMANAGER_API_USER and ALERTMANAGER_API_PASSWORD go together: "
                            "set both (HTTP basic authentication), or neither.")
    if (inbound.alertmanager_token or inbound.alertmanager_user) and \
            not inbound.alertmanager_url:
        env.problems.append("ALERTMANAGER_API_TOKEN or ALERTMANAGER_API_USER is set but "
                            "ALERTMANAGER_URL is empty: set ALERTMANAGER_URL, so the "
                            "credentials go only to the Alertmanager you name (never to a "
                            "notification's externalURL).")


def load_package_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> tuple[str, str, PackageSettings, list[str]]:
    """What building the Teams app package reads, and nothing else (no secret, no start-up
    checks): (MicrosoftAppId, TEAMS_APP_ID, the developer block, problems found)."""
    env = EnvReader(load_environment(environ, env_file))
    package = _build(env, PackageSettings)
    return env.text("MicrosoftAppId"), env.text("TEAMS_APP_ID"), package, env.problems


def _check_influx(env: EnvReader, settings: InfluxSettings) -> None:
    if settings.language is QueryLanguage.FLUX:
        missing = [name for name, value in (("INFLUX_ORG", settings.org),
                                            ("INFLUX_BUCKET", settings.bucket),
                                            ("INFLUX_TOKEN", settings.token)) if not value]
        if missing:
            names = (missing[0] if len(missing) == 1 else
                     ", ".join(missing[:-1]) + " and " + missing[-1])
            env.problems.append(
                f"{names} {'is' if len(missing) == 1 else 'are'} empty but "
                "INFLUX_QUERY_LANGUAGE=flux: InfluxDB 2.x needs INFLUX_ORG, INFLUX_BUCKET and "
                "INFLUX_TOKEN (an API token with read access to the bucket).")
    if settings.password and not settings.username:
        env.problems.append("INFLUX_PASSWORD is set but INFLUX_USERNAME is empty: set both.")
