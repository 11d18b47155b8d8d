"""deploy/heatwatch.service: systemd accepts it (`systemd-analyze verify`), it is hardened
(`systemd-analyze security`), and what it sets is what HeatWatch reads."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from common.settings import load_settings
from tests.support.process import ROOT

UNIT = ROOT / "deploy" / "heatwatch.service"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed (scripts/test installs it: "
                            "scripts/install-systemd-analyze, Debian package systemd)")


def directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def here(tmp_path: Path) -> Path:
    """The unit with its code path on this checkout (verify checks that ExecStart exists)."""
    unit = tmp_path / "heatwatch.service"
    unit.write_text(UNIT.read_text().replace("/opt/heatwatch", str(ROOT)))
    return unit


@needs_analyze
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    assert ANALYZE is not None
    result = subprocess.run([ANALYZE, "verify", str(here(tmp_path))], capture_output=True,
                            text=True, timeout=60)
    # Unknown or misspelt directives are only warnings: any output is a failure here.
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@needs_analyze
def test_the_unit_is_hardened(tmp_path: Path) -> None:
    assert ANALYZE is not None
    result = subprocess.run([ANALYZE, "security", "--offline=yes", "--no-pager",
                             str(here(tmp_path))], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    level = re.search(r"Overall exposure level for heatwatch.service: ([\d.]+)", result.stdout)
    assert level, result.stdout
    assert float(level.group(1)) <= 2.0, result.stdout  # systemd rates below 2.0 as "OK"


def test_the_unit_runs_heatwatch_as_its_own_user_with_a_writable_data_directory() -> None:
    unit = directives()
    for key, value in (("User", "heatwatch"), ("ProtectSystem", "strict"),
                       ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes"),
                       ("Restart", "on-failure"), ("RestartPreventExitStatus", "2"),
                       ("StateDirectory", "heatwatch"), ("ProtectHome", "yes"),
                       ("ReadWritePaths", "/var/lib/heatwatch"),
                       ("EnvironmentFile", "/etc/heatwatch/heatwatch.env")):
        assert unit.get(key) == [value], key
    environment = dict(value.split("=", 1) for value in unit["Environment"])
    settings = load_settings(environ=environment, env_file=None)
    # The SQLite file is where the service may write, the rules where docs/operating.md puts them.
    assert settings.database_url == "sqlite:////var/lib/heatwatch/heatwatch.db"
    assert str(settings.rules_file) == "/etc/heatwatch/rules.toml"
    assert unit["ExecStart"] == ["/opt/heatwatch/.venv/bin/python app.py"]
