"""The pieces of settings loading (common/settings.py) directly: typed values with every
problem collected, `.env` lines, database URLs (never echoing a password), loopback hosts."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import ConfigError, HeatWatchError
from common.settings import (
    EnvReader,
    database_url_problem,
    is_loopback,
    load_settings,
    read_env_file,
)


def test_typed_values_and_defaults() -> None:
    env = EnvReader({"N": " 12 ", "F": "0.5", "B": "Yes", "C": "debug", "U": "https://x.test/",
                     "EMPTY": "  "})
    assert env.integer("N", 1, 0, 100) == 12
    assert env.number("F", 1.0, 0.0, 1.0) == 0.5
    assert env.flag("B", False) is True
    assert env.choice("C", "INFO", {"DEBUG": "DEBUG", "INFO": "INFO"}) == "DEBUG"
    assert env.url("U", "") == "https://x.test"  # no trailing slash
    assert env.text("EMPTY", "default") == "default"  # blank is unset
    assert env.integer("MISSING", 7, 0, 10) == 7
    assert env.problems == []


def test_every_problem_is_collected_then_raised_as_one_config_error() -> None:
    env = EnvReader({"N": "200", "B": "maybe", "U": "ftp://x"})
    assert env.integer("N", 5, 0, 100) == 5
    env.flag("B", True)
    env.url("U", "")
    assert env.problems == [
        "N='200' is not valid: expected a whole number from 0 to 100.",
        "B='maybe' is not valid: expected true or false.",
        "U='ftp://x' is not valid: expected a URL starting with https:// or http://.",
    ]
    with pytest.raises(ConfigError) as raised:
        env.fail_if_any()
    assert str(raised.value).startswith("HeatWatch cannot start")
    assert isinstance(raised.value, HeatWatchError)


def test_env_file_lines(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("# a comment\n\nexport A=1\nB = 'two words'\nC=\"x # y\"\nD=value # note\n")
    assert read_env_file(path) == {"A": "1", "B": "two words", "C": "x # y", "D": "value"}


def test_a_bad_env_line_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\nnot a setting\n")
    with pytest.raises(ConfigError, match=r"\.env:2: expected KEY=value"):
        read_env_file(path)


@pytest.mark.parametrize("url,problem", [
    ("sqlite:///data/x.db", ""),
    ("postgresql://hw:pw@db:5432/heatwatch", ""),
    ("sqlite:///", "names no file"),
    ("postgresql://hw:pw@db:5432/", "needs a host and a database"),
    ("mysql://hw:pw@db/heatwatch", "is not supported"),
    ("postgresql://hw:pw@db:99999/x", "is not a valid URL"),
])
def test_database_urls(url: str, problem: str) -> None:
    found = database_url_problem(url)
    assert (problem in found) if problem else found == ""
    assert ":pw@" not in found  # the password is never echoed


@pytest.mark.parametrize("host,loopback", [("127.0.0.1", True), ("::1", True),
                                           ("localhost", True), ("0.0.0.0", False),
                                           ("10.0.0.5", False), ("example.com", False)])
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_settings_are_built_from_a_mapping_without_reading_the_process_environment() -> None:
    settings = load_settings(environ={"POLL_INTERVAL_SECONDS": "30", "PORT": "0"},
                             env_file=None)
    assert settings.poll_interval == 30.0 and settings.port == 0
