"""Settings are parsed strictly: every bad value is named with its fix, at start. (The table
itself, its docs and .env.example: tests/unit/test_settings_table.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import ConfigError
from common.settings import AppType, load_settings


def test_defaults_are_anonymous_local_mode_on_loopback() -> None:
    settings = load_settings(environ={}, env_file=None)
    assert settings.anonymous
    assert settings.host == "127.0.0.1" and settings.port == 3978
    assert settings.database_url == "sqlite:///./data/heatwatch.db"


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# comment\nPORT=4000\nexport LOG_LEVEL='DEBUG'\nDATABASE_URL=\"sqlite:///x.db\"  \n"
    )
    settings = load_settings(environ={"PORT": "5000"}, env_file=env_file)
    assert settings.port == 5000
    assert settings.log_level == "DEBUG"
    assert settings.database_url == "sqlite:///x.db"


def test_every_bad_value_is_reported_at_once_with_its_variable() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(
            environ={"PORT": "http", "MicrosoftAppType": "Both", "LOG_LEVEL": "LOUD",
                     "BOT_OPENID_METADATA_URL": "ftp://x"},
            env_file=None,
        )
    message = str(raised.value)
    assert "PORT='http'" in message and "0 to 65535" in message
    assert "MicrosoftAppType='Both'" in message and "SingleTenant" in message
    assert "LOG_LEVEL='LOUD'" in message
    assert "BOT_OPENID_METADATA_URL" in message


def test_single_tenant_needs_password_and_tenant() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={"MicrosoftAppId": "abc"}, env_file=None)
    assert "MicrosoftAppPassword is empty" in str(raised.value)
    assert "MicrosoftAppTenantId is empty" in str(raised.value)


def test_managed_identity_needs_no_password() -> None:
    settings = load_settings(
        environ={"MicrosoftAppId": "abc", "MicrosoftAppType": "UserAssignedMSI",
                 "MicrosoftAppTenantId": "t"},
        env_file=None,
    )
    assert settings.app_type is AppType.USER_ASSIGNED_MSI
    assert settings.host == "0.0.0.0"  # authenticated: reachable by the Bot Connector


def test_anonymous_mode_refuses_a_public_host() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={"HOST": "0.0.0.0"}, env_file=None)
    assert "HOST='0.0.0.0'" in str(raised.value) and "127.0.0.1" in str(raised.value)


def test_password_without_app_id_is_refused() -> None:
    with pytest.raises(ConfigError, match="MicrosoftAppId is empty"):
        load_settings(environ={"MicrosoftAppPassword": "x"}, env_file=None)


def test_password_is_not_in_repr() -> None:
    settings = load_settings(
        environ={"MicrosoftAppId": "abc", "MicrosoftAppPassword": "hunter22",
                 "MicrosoftAppTenantId": "t"},
        env_file=None,
    )
    assert "hunter22" not in repr(settings)


def test_malformed_env_file_line_names_file_and_line(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=1\nthis is not a setting\n")
    with pytest.raises(ConfigError, match=r"\.env:2: expected KEY=value"):
        load_settings(environ={}, env_file=env_file)


def test_unsupported_database_url_is_refused() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL='mysql://x' is not supported"):
        load_settings(environ={"DATABASE_URL": "mysql://x"}, env_file=None)


def test_influx_defaults_to_local_influxql() -> None:
    settings = load_settings(environ={}, env_file=None)
    assert settings.influx.url == "http://127.0.0.1:8086"
    assert settings.influx.language.value == "influxql"
    assert settings.poll_interval == 15.0


def test_flux_needs_org_bucket_and_token() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={"INFLUX_QUERY_LANGUAGE": "flux"}, env_file=None)
    [line] = [line for line in str(raised.value).splitlines() if "INFLUX_" in line]
    assert "INFLUX_ORG, INFLUX_BUCKET and INFLUX_TOKEN are empty" in line


def test_flux_without_a_token_is_one_line_naming_it() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={"INFLUX_QUERY_LANGUAGE": "flux", "INFLUX_ORG": "o",
                               "INFLUX_BUCKET": "b"}, env_file=None)
    lines = [line for line in str(raised.value).splitlines() if "INFLUX_" in line]
    assert len(lines) == 1 and "INFLUX_TOKEN is empty but INFLUX_QUERY_LANGUAGE=flux" in lines[0]


def test_a_bad_developer_url_or_reconcile_interval_is_reported_not_replaced() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={"DEVELOPER_WEBSITE_URL": "http://example.com",
                               "DEVELOPER_PRIVACY_URL": "notaurl",
                               "RECONCILE_INTERVAL_SECONDS": "soon"}, env_file=None)
    message = str(raised.value)
    assert "DEVELOPER_WEBSITE_URL='http://example.com' is not valid" in message
    assert "DEVELOPER_PRIVACY_URL='notaurl' is not valid" in message
    assert "RECONCILE_INTERVAL_SECONDS='soon' is not valid" in message


@pytest.mark.parametrize("environ,exposure", [
    ({}, "open"),
    ({"METRICS_BEARER_TOKEN": "t" * 20}, "token"),
    ({"METRICS_PORT": "9464"}, "port"),
    ({"MicrosoftAppId": "a", "MicrosoftAppPassword": "p", "MicrosoftAppTenantId": "t"}, "off"),
    ({"MicrosoftAppId": "a", "MicrosoftAppPassword": "p", "MicrosoftAppTenantId": "t",
      "METRICS_BEARER_TOKEN": "t" * 20}, "token"),
])
def test_where_metrics_are_served(environ: dict[str, str], exposure: str) -> None:
    settings = load_settings(environ=environ, env_file=None)
    assert settings.metrics_exposure == exposure
    if "METRICS_BEARER_TOKEN" in environ:
        assert environ["METRICS_BEARER_TOKEN"] in settings.secrets()
        assert environ["METRICS_BEARER_TOKEN"] not in repr(settings)


def test_metrics_settings_are_checked() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={"METRICS_BEARER_TOKEN": "short", "METRICS_PORT": "3978",
                               "METRICS_HOST": "0.0.0.0"}, env_file=None)
    message = str(raised.value)
    assert "METRICS_BEARER_TOKEN is shorter than 16 characters" in message
    assert "METRICS_PORT=3978 is the bot's PORT" in message
    assert "METRICS_HOST='0.0.0.0' is not allowed in anonymous local mode" in message


def test_poll_interval_bounds_and_influx_secrets() -> None:
    with pytest.raises(ConfigError, match="POLL_INTERVAL_SECONDS='0.5'"):
        load_settings(environ={"POLL_INTERVAL_SECONDS": "0.5"}, env_file=None)
    settings = load_settings(environ={"INFLUX_TOKEN": "tok-123456", "INFLUX_USERNAME": "u",
                                      "INFLUX_PASSWORD": "pw-123456"}, env_file=None)
    assert "tok-123456" not in repr(settings) and "pw-123456" not in repr(settings)
    assert {"tok-123456", "pw-123456"} <= set(settings.secrets())


def test_operators_are_aad_object_ids_and_team_ids() -> None:
    team = "19:efa9296d959346209fea44151c742e73@thread.tacv2"
    settings = load_settings(environ={
        "OPERATORS": f" 0F1E2D3C-0000-4000-8000-000000000001, {team} ,"}, env_file=None)
    assert settings.operators == ("0F1E2D3C-0000-4000-8000-000000000001", team)
    with pytest.raises(ConfigError, match="OPERATORS entry 'megan@contoso.com' is neither an "
                                          "AAD object id"):
        load_settings(environ={"OPERATORS": "megan@contoso.com"}, env_file=None)


def test_recipients_need_the_bot_identity_and_the_manifest_id() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={"ALERT_RECIPIENTS": "a@contoso.com"}, env_file=None)
    assert "ALERT_RECIPIENTS is set but MicrosoftAppId is empty" in str(raised.value)
    assert "TEAMS_APP_ID is empty" in str(raised.value)
    settings = load_settings(environ={
        "ALERT_RECIPIENTS": " a@contoso.com, 0f1e2d3c-0000-4000-8000-000000000001 ,",
        "MicrosoftAppId": "x", "MicrosoftAppPassword": "y", "MicrosoftAppTenantId": "t",
        "TEAMS_APP_ID": "m", "BOT_CLOUD": "usgov"}, env_file=None)
    assert settings.alert_recipients == ("a@contoso.com", "0f1e2d3c-0000-4000-8000-000000000001")
    assert settings.cloud.graph_base_url == "https://graph.microsoft.us"
    assert settings.cloud.teams_service_url.endswith("/teams/")
