"""The settings table (common/settings.py): every row parses its own default, refuses values
past its bounds naming the variable and the range, and is the only list of variables read;
docs/configuration.md's table and `.env.example` are what the table generates. The receiver
rows are checked for every receiver of the source registry (`TABLE`); the docs show them once,
as `<RECEIVER>_WEBHOOK_*` (`settings_table()`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from common.errors import ConfigError
from common.settings import (
    EnvReader,
    Kind,
    ReceiverSettings,
    Row,
    Settings,
    load_settings,
    number_text,
    read_settings,
    settings_table,
)
from heatwatch.settingsdoc import (
    CONFIGURATION,
    ENV_EXAMPLE,
    configuration_page,
    env_example,
    plain,
)
from notifier.inbound.sources import RECEIVERS

TABLE = settings_table(RECEIVERS)
BOUNDED = [row for row in TABLE if row.spec.bounds]


def value_at(settings: Settings, path: tuple[str, ...]) -> Any:
    value: Any = settings
    for step in path:  # a receiver not configured reads as the defaults (`receiver(name)`)
        value = value.get(step, ReceiverSettings()) if isinstance(value, Mapping) else \
            getattr(value, step)
    return value


def written(row: Row) -> str:
    return row.spec.example if row.spec.example is not None else plain(row.default)


def test_the_table_names_each_variable_once() -> None:
    names = [row.env for row in TABLE]
    assert len(names) > 70
    assert len(set(names)) == len(names)
    assert {"PORT", "BOT_SERVICE_URL_HOSTS", "INFLUX_TIMEOUT_SECONDS", "GRAFANA_WEBHOOK_OPEN",
            "DEVELOPER_TERMS_URL", "METRICS_PORT"} <= set(names)


@pytest.mark.parametrize("row", TABLE, ids=[row.env for row in TABLE])
def test_every_row_parses_its_default(row: Row) -> None:
    settings = load_settings(environ={row.env: written(row)}, env_file=None)
    assert value_at(settings, row.path) == row.default


def test_no_variable_is_read_outside_the_table() -> None:
    """With a token for every receiver: its four variables are read, and nothing else."""
    env = EnvReader({f"{name.upper()}_WEBHOOK_TOKEN": "t" * 20 for name in RECEIVERS})
    settings = read_settings(env)
    assert env.problems == []
    assert env.names == {row.env for row in TABLE}
    assert set(settings.inbound.receivers) == set(RECEIVERS)


@pytest.mark.parametrize("row", BOUNDED, ids=[row.env for row in BOUNDED])
def test_bounds_are_kept_and_refused_with_a_clear_message(row: Row) -> None:
    low, high = row.spec.low, row.spec.high
    assert low is not None and high is not None
    for inside in (low, high):
        settings = load_settings(environ={row.env: number_text(inside)}, env_file=None)
        assert value_at(settings, row.path) == inside
    for outside in (low - 1, high + 1):
        text = number_text(outside)
        with pytest.raises(ConfigError) as raised:
            load_settings(environ={row.env: text}, env_file=None)
        message = str(raised.value)
        assert f"{row.env}={text!r} is not valid" in message
        assert f"from {row.spec.bounds}" in message, message


def test_a_whole_number_setting_refuses_a_fraction() -> None:
    rows = [row for row in TABLE if row.spec.kind is Kind.INTEGER]
    assert rows
    for row in rows:
        with pytest.raises(ConfigError, match=f"{row.env}='1.5' is not valid: expected a "
                                              "whole number"):
            load_settings(environ={row.env: "1.5"}, env_file=None)


def test_secrets_stay_out_of_repr() -> None:
    secrets = [row for row in TABLE if row.spec.secret]
    assert {row.env for row in secrets} >= {"MicrosoftAppPassword", "INFLUX_TOKEN",
                                            "METRICS_BEARER_TOKEN", "GRAFANA_WEBHOOK_TOKEN",
                                            "ALERTMANAGER_API_PASSWORD"}
    environ = {row.env: f"s3cret-value-of-{row.env.lower()}" for row in secrets}
    environ["DATABASE_URL"] = "postgresql://u:s3cret-pg@db.internal:5432/heatwatch"
    shown = repr(load_settings(environ={**environ, **_companions()}, env_file=None))
    assert "s3cret" not in shown


def _companions() -> dict[str, str]:
    """What the secrets need beside them to be accepted (their users, their URLs)."""
    return {"MicrosoftAppId": "app", "MicrosoftAppTenantId": "tenant",
            "INFLUX_USERNAME": "u", "ALERTMANAGER_URL": "http://127.0.0.1:9093",
            "ALERTMANAGER_API_USER": "am",
            **{f"{name.upper()}_WEBHOOK_USER": "hook" for name in RECEIVERS}}


def test_the_configuration_reference_is_the_generated_table() -> None:
    page = CONFIGURATION.read_text(encoding="utf-8")
    assert configuration_page(page) == page, (
        "docs/configuration.md's table differs from common/settings.py: run "
        "python -m heatwatch.settingsdoc")
    for row in settings_table():
        assert f"`{row.env}`" in page
    assert "`<RECEIVER>_WEBHOOK_TOKEN`" in page


def test_env_example_is_the_generated_file_and_gives_the_defaults() -> None:
    assert ENV_EXAMPLE.read_text(encoding="utf-8") == env_example(), (
        ".env.example differs from common/settings.py: run python -m heatwatch.settingsdoc")
    assert load_settings(environ={}, env_file=Path(ENV_EXAMPLE)) == load_settings(
        environ={}, env_file=None)


# Names in the docs that are no settings: code constants, a capability, a Grafana input, the
# receivers' typo that is only warned about (receivers.md).
NOT_SETTINGS = {"ASHRAE_MOISTURE", "CAP_NET_BIND_SERVICE", "DS_PROMETHEUS", "HOLD_MAX", "OPEN_KINDS",
                "PUSH_SOURCES", "SILENCEABLE_SOURCES", "GRAFNA_WEBHOOK_TOKEN"}


def test_the_docs_name_no_setting_that_is_not_in_the_table() -> None:
    """A renamed or removed setting leaves no stale name behind in the docs or the README."""
    root = CONFIGURATION.parent.parent
    names = {row.env for row in TABLE}
    stale = {}
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for name in re.findall(r"`([A-Z][A-Za-z0-9]*_[A-Z0-9_]+|Microsoft[A-Za-z]+)(?:=[^`]*)?`",
                               page.read_text(encoding="utf-8")):
            if name not in names and name not in NOT_SETTINGS:
                stale.setdefault(name, page.name)
    assert not stale, f"the docs name variables HeatWatch does not read: {stale}"
