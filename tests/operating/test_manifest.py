"""The Teams app package: built from settings, valid against Microsoft's JSON schema for its
manifest version (npm @microsoft/app-manifest, installed by scripts/test), with icons that
follow Teams' rules, checked on the PNGs inside the built zip."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
from PIL import Image

from common.errors import ConfigError
from common.settings import load_settings
from heatwatch.package import build
from notifier.chat.commands import COMMAND_TABLE, HELP
from tests.support.process import ROOT

SCHEMAS = ROOT / "node_modules" / "@microsoft" / "app-manifest" / "build" / "json-schemas" / "teams"
TEAMS_APP_ID = "3b1f2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
BOT_APP_ID = "f5d48856-5b42-41a0-8c3a-c5f944b679b0"
ENV = {"MicrosoftAppId": BOT_APP_ID, "MicrosoftAppPassword": "x", "MicrosoftAppTenantId": "t",
       "TEAMS_APP_ID": TEAMS_APP_ID, "APP_VERSION": "1.2.3",
       "DEVELOPER_WEBSITE_URL": "https://contoso.com/heatwatch",
       "DEVELOPER_PRIVACY_URL": "https://contoso.com/privacy",
       "DEVELOPER_TERMS_URL": "https://contoso.com/terms"}


@pytest.fixture
def package(tmp_path: Path) -> zipfile.ZipFile:
    target = build(load_settings(environ=ENV, env_file=None), tmp_path)
    assert target.name == "heatwatch-teams-app-1.2.3.zip"
    return zipfile.ZipFile(target)


def test_manifest_is_valid_against_microsofts_schema_for_its_version(
    package: zipfile.ZipFile,
) -> None:
    manifest = json.loads(package.read("manifest.json"))
    schema_file = SCHEMAS / f"v{manifest['manifestVersion']}" / "MicrosoftTeams.schema.json"
    assert schema_file.is_file(), "run ./scripts/test: it installs @microsoft/app-manifest"
    schema = json.loads(schema_file.read_text("utf-8"))
    # The schema declares draft-04 but uses `const`; Draft 7 semantics enforce it.
    jsonschema.Draft7Validator(schema).validate(manifest)
    assert manifest["manifestVersion"] == "1.30"


def test_manifest_carries_the_ids_scopes_and_commands(package: zipfile.ZipFile) -> None:
    manifest = json.loads(package.read("manifest.json"))
    assert manifest["id"] == TEAMS_APP_ID and manifest["version"] == "1.2.3"
    [bot] = manifest["bots"]
    assert bot["botId"] == BOT_APP_ID
    assert manifest["webApplicationInfo"]["id"] == BOT_APP_ID  # needed for Graph self-install
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    # Teams' command menu is the command table's menu lines, in order, word for word.
    commands = {c["title"]: c["description"] for c in bot["commandLists"][0]["commands"]}
    assert commands == {name: line for name, line in COMMAND_TABLE.items() if line}
    assert list(commands)[:3] == ["help", "status", "alerts"]
    assert {"history", "snooze"} <= set(commands)
    assert all(f"**{name}**" in HELP for name in COMMAND_TABLE)  # the rest are in help
    assert manifest["developer"]["websiteUrl"] == "https://contoso.com/heatwatch"
    assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]


def test_icons_follow_teams_rules(package: zipfile.ZipFile) -> None:
    color = Image.open(io.BytesIO(package.read("color.png")))
    assert color.format == "PNG" and color.size == (192, 192)
    outline = Image.open(io.BytesIO(package.read("outline.png"))).convert("RGBA")
    assert outline.size == (32, 32)
    pixels = [outline.getpixel((x, y)) for y in range(32) for x in range(32)]
    assert any(a == 0 for *_, a in pixels), "outline background must be transparent"
    assert all(a == 0 or (r, g, b, a) == (255, 255, 255, 255) for r, g, b, a in pixels), (
        "outline icon must be white on a fully transparent background")
    assert sum(1 for *_, a in pixels if a) > 50  # there is a glyph


@pytest.mark.parametrize("override,message", [
    ({"TEAMS_APP_ID": "heatwatch"}, "TEAMS_APP_ID='heatwatch' must be a GUID"),
    ({"MicrosoftAppId": "", "MicrosoftAppPassword": ""}, "MicrosoftAppId='' must be"),
    ({"APP_VERSION": "1.0"}, "APP_VERSION='1.0' must look like 1.0.0"),
])
def test_an_invalid_package_is_refused_with_the_setting_to_fix(
    tmp_path: Path, override: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        build(load_settings(environ={**ENV, **override}, env_file=None), tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_the_build_command(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "heatwatch", "package", "--out", str(tmp_path)],
                            cwd=ROOT, env={"PATH": "/usr/bin:/bin", **ENV},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "heatwatch-teams-app-1.2.3.zip").is_file()
    refused = subprocess.run([sys.executable, "-m", "heatwatch", "package", "--out", str(tmp_path)],
                             cwd=ROOT, env={"PATH": "/usr/bin:/bin", **ENV, "TEAMS_APP_ID": "x"},
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "TEAMS_APP_ID='x' must be a GUID" in refused.stderr


def run_package(env: dict[str, str], *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "heatwatch", "package", *args], cwd=cwd,
                          env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True,
                          timeout=60)


def test_the_readme_package_command_works_as_written(tmp_path: Path) -> None:
    """The command of step 6, with its <placeholders> filled in, run in a clean folder (no .env):
    no secret, no tenant, and the developer URLs it names."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("6. **Build the Teams app package**", 1)[1].split("```sh", 1)[1]
    command = (block.split("```", 1)[0].replace("\\\n", " ").replace("<app id>", BOT_APP_ID)
               .replace("<that GUID>", TEAMS_APP_ID).split())
    assert command[-3:] == [".venv/bin/python", "-m", "heatwatch"] or command[-4:] == [
        ".venv/bin/python", "-m", "heatwatch", "package"], command
    env = dict(part.split("=", 1) for part in command if "=" in part)
    assert set(env) >= {"MicrosoftAppId", "TEAMS_APP_ID"}
    assert not any(key.startswith(("MicrosoftAppPassword", "MicrosoftAppTenantId")) for key in env)
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "heatwatch", "package"],
                            cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                                               **env},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "build" / "heatwatch-teams-app-1.0.0.zip").is_file()


def test_packaging_needs_no_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in ENV.items() if k not in ("MicrosoftAppPassword",
                                                      "MicrosoftAppTenantId")}
    result = run_package(env, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "cannot start" not in result.stderr


@pytest.mark.parametrize("override,lines", [
    ({"DEVELOPER_WEBSITE_URL": "http://example.com"},
     ["DEVELOPER_WEBSITE_URL='http://example.com' is not valid: expected a URL starting with "
      "https://"]),
    ({"DEVELOPER_WEBSITE_URL": "notaurl", "DEVELOPER_PRIVACY_URL": "http://contoso.com/p"},
     ["DEVELOPER_WEBSITE_URL='notaurl' is not valid", "DEVELOPER_PRIVACY_URL='http://contoso.com/p'"
      " is not valid"]),
    ({"DEVELOPER_TERMS_URL": "https://contoso .com/terms"},
     ["DEVELOPER_TERMS_URL='https://contoso .com/terms' is not valid: it contains a space "
      "(after 'https://contoso'); a URL has none."]),
    ({"DEVELOPER_TERMS_URL": "https:///terms"},
     ["DEVELOPER_TERMS_URL='https:///terms' is not valid: it names no host: expected "
      "https://host/..."]),
    ({"DEVELOPER_WEBSITE_URL": "", "DEVELOPER_PRIVACY_URL": "", "DEVELOPER_TERMS_URL": ""},
     ["DEVELOPER_WEBSITE_URL='https://heatwatch.example.com' is the placeholder",
      "DEVELOPER_PRIVACY_URL='https://heatwatch.example.com/privacy' is the placeholder",
      "DEVELOPER_TERMS_URL='https://heatwatch.example.com/terms' is the placeholder"]),
])
def test_bad_or_placeholder_developer_urls_are_refused_one_line_each(
    tmp_path: Path, override: dict[str, str], lines: list[str]
) -> None:
    result = run_package({**ENV, **override}, "--out", str(tmp_path))
    assert result.returncode == 2, result.stdout
    problems = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert len(problems) == len(lines), result.stderr
    for line, expected in zip(problems, lines, strict=True):
        assert expected in line
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_placeholders_are_allowed_for_a_local_try_but_http_is_not(tmp_path: Path) -> None:
    placeholders = {**ENV, "DEVELOPER_WEBSITE_URL": "", "DEVELOPER_PRIVACY_URL": "",
                    "DEVELOPER_TERMS_URL": ""}
    result = run_package(placeholders, "--out", str(tmp_path), "--allow-placeholders")
    assert result.returncode == 0, result.stderr
    manifest = json.loads(zipfile.ZipFile(tmp_path / "heatwatch-teams-app-1.2.3.zip")
                          .read("manifest.json"))
    assert manifest["developer"]["websiteUrl"] == "https://heatwatch.example.com"
    refused = run_package({**placeholders, "DEVELOPER_TERMS_URL": "http://contoso.com/t"},
                          "--out", str(tmp_path / "x"), "--allow-placeholders")
    assert refused.returncode == 2 and "DEVELOPER_TERMS_URL" in refused.stderr


def test_package_help() -> None:
    result = run_package({}, "--help")
    assert result.returncode == 0 and "--allow-placeholders" in result.stdout
