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
from tests.process import ROOT

SCHEMAS = ROOT / "node_modules" / "@microsoft" / "app-manifest" / "build" / "json-schemas" / "teams"
TEAMS_APP_ID = "3b1f2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
BOT_APP_ID = "f5d48856-5b42-41a0-8c3a-c5f944b679b0"
ENV = {"MicrosoftAppId": BOT_APP_ID, "MicrosoftAppPassword": "x", "MicrosoftAppTenantId": "t",
       "TEAMS_APP_ID": TEAMS_APP_ID, "APP_VERSION": "1.2.3",
       "DEVELOPER_WEBSITE_URL": "https://contoso.com/heatwatch"}


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
    commands = [c["title"] for c in bot["commandLists"][0]["commands"]]
    assert commands == ["help", "status", "alerts", "ack", "subscribe", "unsubscribe", "mute",
                        "unmute"]
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
