"""One typed settings object, read strictly from the environment and an optional `.env` file.

Every problem is reported at start, all at once, naming the variable and what it expects.
Real environment variables win over the `.env` file. Nothing here runs at import time.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from common.errors import ConfigError
from common.logs import redacted_url

T = TypeVar("T")

DEFAULT_DATABASE_URL = "sqlite:///./data/heatwatch.db"
DEFAULT_PORT = 3978


class AppType(StrEnum):
    """`MicrosoftAppType`: how the bot proves its identity to the Bot Connector."""

    MULTI_TENANT = "MultiTenant"
    SINGLE_TENANT = "SingleTenant"
    USER_ASSIGNED_MSI = "UserAssignedMSI"


@dataclass(frozen=True)
class BotCloud:
    """Endpoints of the Bot Framework cloud the bot is in (public, US Gov, or a test stand-in)."""

    openid_metadata_url: str
    token_issuer: str
    emulator_openid_metadata_url: str
    login_authority: str
    connector_scope: str
    graph_base_url: str = "https://graph.microsoft.com"
    teams_service_url: str = "https://smba.trafficmanager.net/teams/"
    # Hosts an activity's serviceUrl may name (`*.` = any subdomain): Teams' connector hosts of
    # the cloud (public and GCC; GCC High and DoD), and the Bot Framework's own (Test in Web
    # Chat). Defence in depth beside the token's `serviceurl` claim.
    service_url_hosts: tuple[str, ...] = (
        "smba.trafficmanager.net", "*.trafficmanager.net", "smba.infra.gcc.teams.microsoft.com",
        "*.botframework.com")


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

    url: str = "http://127.0.0.1:8086"
    language: QueryLanguage = QueryLanguage.INFLUXQL
    database: str = "heatwatch"
    org: str = ""
    bucket: str = ""
    token: str = field(default="", repr=False)
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 10.0


@dataclass(frozen=True)
class PackageSettings:
    """What goes into the Teams app package besides the ids."""

    version: str = "1.0.0"
    developer_name: str = "HeatWatch"
    website_url: str = "https://heatwatch.example.com"
    privacy_url: str = "https://heatwatch.example.com/privacy"
    terms_url: str = "https://heatwatch.example.com/terms"


RECEIVERS = ("alertmanager", "grafana", "influxdb")  # POST /api/alerts/<name>


@dataclass(frozen=True)
class ReceiverSettings:
    """Who may post to one alert receiver: a bearer token, HTTP basic credentials, or anyone
    (`open`, anonymous local mode only). Disabled when none is set."""

    token: str = field(default="", repr=False)
    user: str = ""
    password: str = field(default="", repr=False)
    open: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.token or self.user or self.open)


@dataclass(frozen=True)
class InboundSettings:
    """The alert receivers (Alertmanager, Grafana, InfluxDB 2 checks) and the Alertmanager API
    that silences from cards go to."""

    receivers: Mapping[str, ReceiverSettings] = field(default_factory=dict)
    max_bytes: int = 1024 * 1024
    read_timeout: float = 30.0  # seconds a receiver waits for the whole body (408 after)
    alertmanager_url: str = ""  # empty: the externalURL of the notification
    alertmanager_token: str = field(default="", repr=False)
    alertmanager_user: str = ""
    alertmanager_password: str = field(default="", repr=False)

    def receiver(self, name: str) -> ReceiverSettings:
        return self.receivers.get(name) or ReceiverSettings()

    def secrets(self) -> list[str]:
        return [s for r in self.receivers.values() for s in (r.token, r.password)] + [
            self.alertmanager_token, self.alertmanager_password]


@dataclass(frozen=True)
class Settings:
    """Everything HeatWatch reads from its environment. Secrets are kept out of `repr`."""

    app_id: str = ""
    app_password: str = field(default="", repr=False)
    app_type: AppType = AppType.SINGLE_TENANT
    tenant_id: str = ""
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)  # may hold a password
    database_pool_size: int = 10
    log_level: str = "INFO"
    cloud: BotCloud = CLOUDS["public"]
    shutdown_timeout: float = 10.0
    influx: InfluxSettings = InfluxSettings()
    monitoring: bool = True
    rules_file: Path = Path("rules.toml")
    poll_interval: float = 15.0
    source_down_after: float = 120.0
    incident_update_window: float = 10.0
    audit_retention_days: float = 90.0
    delivery_retention_hours: float = 24.0  # sent or given-up deliveries
    incident_retention_days: float = 30.0  # resolved incidents, their cards and series
    reaction_retention_days: float = 30.0
    tenant_send_limit: float = 50.0
    delivery_concurrency: int = 64
    delivery_max_attempts: int = 8
    delivery_give_up_after: float = 86400.0  # and not before it waited this long
    delivery_backoff: float = 1.0
    delivery_lease: float = 10.0  # renewed while the replica runs
    alert_recipients: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()  # AAD object ids and team ids that see every incident
    teams_app_id: str = ""
    teams_catalog_app_id: str = ""
    activity_feed: bool = True  # page people through Graph (needs app id and TEAMS_APP_ID)
    reconcile_interval: float = 3600.0
    package: PackageSettings = PackageSettings()
    metrics_token: str = field(default="", repr=False)
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None  # None: /metrics on the bot's port (see metrics_exposure)
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

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values
        self.problems: list[str] = []

    def raw(self, name: str) -> str | None:
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

        return self._typed(name, default, parse, f"a number from {low:g} to {high:g}")

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
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> Settings:
    """Build `Settings` or raise `ConfigError` listing every bad variable and its fix."""
    env = EnvReader(load_environment(environ, env_file))
    default = Settings  # every default is stated once, on the dataclass

    app_id = env.text("MicrosoftAppId")
    app_password = env.text("MicrosoftAppPassword")
    app_type = env.choice(
        "MicrosoftAppType", AppType.SINGLE_TENANT, {t.value: t for t in AppType}
    )
    tenant_id = env.text("MicrosoftAppTenantId")
    if app_id:
        if app_type is not AppType.USER_ASSIGNED_MSI and not app_password:
            env.problems.append(
                f"MicrosoftAppPassword is empty but MicrosoftAppId is set and MicrosoftAppType is "
                f"{app_type.value}: set the client secret of the bot's Entra app registration, "
                "or use MicrosoftAppType=UserAssignedMSI."
            )
        if app_type is not AppType.MULTI_TENANT and not tenant_id:
            env.problems.append(
                f"MicrosoftAppTenantId is empty but MicrosoftAppType is {app_type.value}: set the "
                "directory (tenant) id of the bot's Entra app registration."
            )
    elif app_password:
        env.problems.append(
            "MicrosoftAppPassword is set but MicrosoftAppId is empty: set both, or neither for "
            "anonymous local mode."
        )

    default_host = "127.0.0.1" if not app_id else "0.0.0.0"
    host = env.text("HOST", default_host)
    if not app_id and not is_loopback(host):
        env.problems.append(
            f"HOST={host!r} is not allowed in anonymous local mode (no MicrosoftAppId): without "
            "authentication the bot listens on 127.0.0.1 only. Remove HOST, or set MicrosoftAppId."
        )
    port = env.integer("PORT", default.port, 0, 65535)

    database_url = env.text("DATABASE_URL", DEFAULT_DATABASE_URL)
    problem = database_url_problem(database_url)
    if problem:
        env.problems.append(problem)
    database_pool_size = env.integer("DATABASE_POOL_SIZE", default.database_pool_size, 1, 100)
    delivery_lease = env.number("DELIVERY_LEASE_SECONDS", default.delivery_lease, 3.0, 3600.0)

    log_level = env.choice(
        "LOG_LEVEL", default.log_level,
        {name: name for name in ("DEBUG", "INFO", "WARNING", "ERROR")}
    )
    preset = env.choice("BOT_CLOUD", CLOUDS["public"], CLOUDS)
    cloud = BotCloud(
        openid_metadata_url=env.url("BOT_OPENID_METADATA_URL", preset.openid_metadata_url),
        token_issuer=env.text("BOT_TOKEN_ISSUER", preset.token_issuer),
        emulator_openid_metadata_url=env.url(
            "BOT_EMULATOR_OPENID_METADATA_URL", preset.emulator_openid_metadata_url
        ),
        login_authority=env.url("ENTRA_AUTHORITY_HOST", preset.login_authority),
        connector_scope=env.text("BOT_CONNECTOR_SCOPE", preset.connector_scope),
        graph_base_url=env.url("GRAPH_BASE_URL", preset.graph_base_url),
        teams_service_url=env.url("TEAMS_SERVICE_URL", preset.teams_service_url).rstrip("/") + "/",
        service_url_hosts=_host_patterns(env, "BOT_SERVICE_URL_HOSTS", preset.service_url_hosts),
    )
    shutdown_timeout = env.number("SHUTDOWN_TIMEOUT_SECONDS", default.shutdown_timeout, 0.0, 600.0)
    influx = _influx_settings(env)
    monitoring = env.flag("MONITORING_ENABLED", default.monitoring)
    rules_file = Path(env.text("RULES_FILE", str(default.rules_file)))
    poll_interval = env.number("POLL_INTERVAL_SECONDS", default.poll_interval, 1.0, 86400.0)
    source_down_after = env.number("SOURCE_DOWN_AFTER_SECONDS", default.source_down_after,
                                   0.0, 86400.0)
    tenant_send_limit = env.number("TENANT_SEND_LIMIT_PER_SECOND", default.tenant_send_limit, 0.0,
                                   10000.0)
    delivery_concurrency = env.integer("DELIVERY_CONCURRENCY", default.delivery_concurrency,
                                       1, 1000)
    delivery_max_attempts = env.integer("DELIVERY_MAX_ATTEMPTS", default.delivery_max_attempts,
                                        1, 100)
    delivery_give_up_after = env.number("DELIVERY_GIVE_UP_AFTER_SECONDS",
                                        default.delivery_give_up_after, 0.0, 30 * 86400.0)
    delivery_backoff = env.number("DELIVERY_BACKOFF_SECONDS", default.delivery_backoff, 0.01, 600.0)
    recipients = tuple(r.strip() for r in env.text("ALERT_RECIPIENTS").split(",") if r.strip())
    teams_app_id = env.text("TEAMS_APP_ID")
    if recipients and not app_id:
        env.problems.append(
            "ALERT_RECIPIENTS is set but MicrosoftAppId is empty: installing the app for people "
            "uses Microsoft Graph with the bot's identity. Set MicrosoftAppId (and its secret or "
            "managed identity), or remove ALERT_RECIPIENTS.")
    if recipients and not teams_app_id:
        env.problems.append(
            "ALERT_RECIPIENTS is set but TEAMS_APP_ID is empty: set it to the \"id\" of the "
            "HeatWatch Teams app manifest (the app's externalId in the org catalog).")

    operators = tuple(o.strip() for o in env.text("OPERATORS").split(",") if o.strip())
    for operator in operators:
        if not (_GUID.fullmatch(operator) or operator.startswith("19:")):
            env.problems.append(
                f"OPERATORS entry {operator!r} is neither an AAD object id (a GUID) nor a team "
                "id (19:…@thread.tacv2 or @thread.skype).")

    teams_catalog_app_id = env.text("TEAMS_CATALOG_APP_ID")
    activity_feed = env.flag("ACTIVITY_FEED", default.activity_feed)
    reconcile_interval = env.number("RECONCILE_INTERVAL_SECONDS", default.reconcile_interval,
                                    10.0, 7 * 86400.0)
    package = package_settings(env)
    metrics_token = env.text("METRICS_BEARER_TOKEN")
    if metrics_token and len(metrics_token) < 16:
        env.problems.append("METRICS_BEARER_TOKEN is shorter than 16 characters: use a long "
                            "random value, e.g. python3 -c \"import secrets; "
                            "print(secrets.token_urlsafe(32))\".")
    metrics_host = env.text("METRICS_HOST", default.metrics_host)
    metrics_port_value = env.integer("METRICS_PORT", -1, 0, 65535)
    metrics_port = None if metrics_port_value < 0 else metrics_port_value
    if not app_id and metrics_port is not None and not is_loopback(metrics_host):
        env.problems.append(
            f"METRICS_HOST={metrics_host!r} is not allowed in anonymous local mode (no "
            "MicrosoftAppId): the metrics listener stays on loopback. Remove METRICS_HOST, or "
            "set MicrosoftAppId.")
    if metrics_port is not None and metrics_port == port and port != 0:
        env.problems.append(f"METRICS_PORT={metrics_port} is the bot's PORT: choose another "
                            "port, or remove METRICS_PORT to serve /metrics on the bot's port.")

    inbound = inbound_settings(env, app_id)
    env.fail_if_any()
    return Settings(
        app_id=app_id,
        app_password=app_password,
        app_type=app_type,
        tenant_id=tenant_id,
        host=host,
        port=port,
        database_url=database_url,
        database_pool_size=database_pool_size,
        delivery_lease=delivery_lease,
        log_level=log_level,
        cloud=cloud,
        shutdown_timeout=shutdown_timeout,
        influx=influx,
        monitoring=monitoring,
        rules_file=rules_file,
        poll_interval=poll_interval,
        source_down_after=source_down_after,
        incident_update_window=env.number("INCIDENT_UPDATE_WINDOW_SECONDS",
                                          default.incident_update_window, 0.0, 3600.0),
        audit_retention_days=env.number("AUDIT_RETENTION_DAYS", default.audit_retention_days,
                                        1.0, 36500.0),
        delivery_retention_hours=env.number("DELIVERY_RETENTION_HOURS",
                                            default.delivery_retention_hours, 0.1, 87600.0),
        incident_retention_days=env.number("INCIDENT_RETENTION_DAYS",
                                           default.incident_retention_days, 0.01, 36500.0),
        reaction_retention_days=env.number("REACTION_RETENTION_DAYS",
                                           default.reaction_retention_days, 0.01, 36500.0),
        tenant_send_limit=tenant_send_limit,
        delivery_concurrency=delivery_concurrency,
        delivery_max_attempts=delivery_max_attempts,
        delivery_give_up_after=delivery_give_up_after,
        delivery_backoff=delivery_backoff,
        alert_recipients=recipients,
        operators=operators,
        teams_app_id=teams_app_id,
        activity_feed=activity_feed,
        teams_catalog_app_id=teams_catalog_app_id,
        reconcile_interval=reconcile_interval,
        package=package,
        metrics_token=metrics_token,
        metrics_host=metrics_host,
        metrics_port=metrics_port,
        inbound=inbound,
    )


def inbound_settings(env: EnvReader, app_id: str) -> InboundSettings:
    """`<NAME>_WEBHOOK_TOKEN` (bearer) or `<NAME>_WEBHOOK_USER`/`_PASSWORD` (basic) enable a
    receiver; `<NAME>_WEBHOOK_OPEN=true` opens it without credentials, in anonymous local
    mode only. Plus the Alertmanager API for silences."""
    receivers: dict[str, ReceiverSettings] = {}
    for name in RECEIVERS:
        prefix = f"{name.upper()}_WEBHOOK"
        token = env.text(f"{prefix}_TOKEN")
        user, password = env.text(f"{prefix}_USER"), env.text(f"{prefix}_PASSWORD")
        is_open = env.flag(f"{prefix}_OPEN", False)
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
        if is_open and app_id:
            env.problems.append(f"{prefix}_OPEN=true is only allowed in anonymous local mode "
                                f"(no MicrosoftAppId): set {prefix}_TOKEN (or {prefix}_USER and "
                                f"{prefix}_PASSWORD) instead.")
        receivers[name] = ReceiverSettings(token=token, user=user, password=password,
                                           open=is_open)
    default = InboundSettings()
    alertmanager_user = env.text("ALERTMANAGER_API_USER")
    alertmanager_password = env.text("ALERTMANAGER_API_PASSWORD")
    if bool(alertmanager_user) != bool(alertmanager_password):
        env.problems.append("ALERTMANAGER_API_USER and ALERTMANAGER_API_PASSWORD go together: "
                            "set both (HTTP basic authentication), or neither.")
    alertmanager_url = env.url("ALERTMANAGER_URL", "").rstrip("/")
    alertmanager_token = env.text("ALERTMANAGER_API_TOKEN")
    if (alertmanager_token or alertmanager_user) and not alertmanager_url:
        env.problems.append("ALERTMANAGER_API_TOKEN or ALERTMANAGER_API_USER is set but "
                            "ALERTMANAGER_URL is empty: set ALERTMANAGER_URL, so the "
                            "credentials go only to the Alertmanager you name (never to a "
                            "notification's externalURL).")
    return InboundSettings(
        receivers=receivers,
        max_bytes=env.integer("INBOUND_MAX_BYTES", default.max_bytes, 1024, 64 * 1024 * 1024),
        read_timeout=env.number("INBOUND_READ_TIMEOUT_SECONDS", default.read_timeout, 1.0,
                                600.0),
        alertmanager_url=alertmanager_url,
        alertmanager_token=alertmanager_token,
        alertmanager_user=alertmanager_user,
        alertmanager_password=alertmanager_password,
    )


def package_settings(env: EnvReader) -> PackageSettings:
    """The developer block of the Teams app package (https URLs only; a bad one is a problem,
    never silently replaced by the default)."""
    return PackageSettings(
        version=env.text("APP_VERSION", PackageSettings.version),
        developer_name=env.text("DEVELOPER_NAME", PackageSettings.developer_name),
        website_url=env.url("DEVELOPER_WEBSITE_URL", PackageSettings.website_url, ("https",)),
        privacy_url=env.url("DEVELOPER_PRIVACY_URL", PackageSettings.privacy_url, ("https",)),
        terms_url=env.url("DEVELOPER_TERMS_URL", PackageSettings.terms_url, ("https",)),
    )


def load_package_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> tuple[str, str, PackageSettings, list[str]]:
    """What building the Teams app package reads, and nothing else (no secret, no start-up
    checks): (MicrosoftAppId, TEAMS_APP_ID, the developer block, problems found)."""
    env = EnvReader(load_environment(environ, env_file))
    package = package_settings(env)
    return env.text("MicrosoftAppId"), env.text("TEAMS_APP_ID"), package, env.problems


def _influx_settings(env: EnvReader) -> InfluxSettings:
    language = env.choice("INFLUX_QUERY_LANGUAGE", QueryLanguage.INFLUXQL,
                          {q.value: q for q in QueryLanguage})
    settings = InfluxSettings(
        url=env.url("INFLUX_URL", InfluxSettings.url),
        language=language,
        database=env.text("INFLUX_DATABASE", InfluxSettings.database),
        org=env.text("INFLUX_ORG"),
        bucket=env.text("INFLUX_BUCKET"),
        token=env.text("INFLUX_TOKEN"),
        username=env.text("INFLUX_USERNAME"),
        password=env.text("INFLUX_PASSWORD"),
        timeout=env.number("INFLUX_TIMEOUT_SECONDS", InfluxSettings.timeout, 0.1, 600.0),
    )
    if language is QueryLanguage.FLUX:
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
    return settings
