"""Build the Teams app package: `python -m heatwatch package [--out build/] [--allow-placeholders]`.

Reads only what the package needs (environment and .env): `MicrosoftAppId`, `TEAMS_APP_ID`,
`APP_VERSION` and the `DEVELOPER_*` settings; building a zip is not a start, so no secret and
no start-up checks. Fills manifest/manifest.template.json, checks what Teams would refuse, and
writes manifest.json + both icons into a zip. An invalid package is never written: one line per
problem names the setting to fix. The placeholder developer URLs (`heatwatch.example.com`) are
refused too unless `--allow-placeholders` (a local try, never a package for people).
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import sys
import zipfile
from pathlib import Path

from common.errors import ConfigError
from common.settings import PackageSettings, Settings, load_package_settings

MANIFEST_DIR = Path(__file__).resolve().parent.parent / "manifest"
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
VERSION = re.compile(r"^\d{1,5}\.\d{1,5}\.\d{1,5}$")
ICON_SIZES = {"color.png": 192, "outline.png": 32}
PLACEHOLDER_HOST = "heatwatch.example.com"


def png_size(data: bytes) -> tuple[int, int]:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def placeholder_problems(package: PackageSettings) -> list[str]:
    """The developer URLs still pointing at the placeholder host."""
    return [f"{name}={url!r} is the placeholder: set it to your organization's page (https), "
            "or pass --allow-placeholders for a local try"
            for name, url in (("DEVELOPER_WEBSITE_URL", package.website_url),
                              ("DEVELOPER_PRIVACY_URL", package.privacy_url),
                              ("DEVELOPER_TERMS_URL", package.terms_url))
            if PLACEHOLDER_HOST in url]


def render(settings: Settings, template: str, problems: list[str] | None = None) -> dict:
    problems = list(problems or [])
    if not GUID.match(settings.app_id):
        problems.append(f"MicrosoftAppId={settings.app_id!r} must be the bot's Entra app id (a "
                        "GUID): the manifest's botId and webApplicationInfo.id")
    if not GUID.match(settings.teams_app_id):
        problems.append(f"TEAMS_APP_ID={settings.teams_app_id!r} must be a GUID: the Teams app's "
                        "own id (generate one once, e.g. python -c 'import uuid; "
                        "print(uuid.uuid4())', and keep it)")
    if not VERSION.match(settings.package.version):
        problems.append(f"APP_VERSION={settings.package.version!r} must look like 1.0.0")
    if len(settings.package.developer_name) > 32 or not settings.package.developer_name:
        problems.append("DEVELOPER_NAME must be 1 to 32 characters")
    if problems:
        raise ConfigError("Cannot build the Teams app package:\n  - " + "\n  - ".join(problems))
    values = {
        "APP_VERSION": settings.package.version,
        "TEAMS_APP_ID": settings.teams_app_id,
        "MICROSOFT_APP_ID": settings.app_id,
        "DEVELOPER_NAME": settings.package.developer_name,
        "DEVELOPER_WEBSITE_URL": settings.package.website_url,
        "DEVELOPER_PRIVACY_URL": settings.package.privacy_url,
        "DEVELOPER_TERMS_URL": settings.package.terms_url,
    }
    text = template
    for key, value in values.items():
        text = text.replace("${{" + key + "}}", json.dumps(value)[1:-1])
    left = re.findall(r"\$\{\{([A-Z_]+)\}\}", text)
    if left:
        raise ConfigError(f"manifest template has unknown placeholders: {', '.join(left)}")
    return json.loads(text)


def build(settings: Settings, out_dir: Path, source: Path = MANIFEST_DIR,
          problems: list[str] | None = None) -> Path:
    """Write the zip; ConfigError (one line per problem, `problems` included) if invalid."""
    manifest = render(settings, (source / "manifest.template.json").read_text("utf-8"),
                      problems)
    icons = {}
    for name, size in ICON_SIZES.items():
        data = (source / name).read_bytes()
        if png_size(data) != (size, size):
            raise ConfigError(f"manifest/{name} must be {size}x{size} pixels")
        icons[name] = data
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"heatwatch-teams-app-{settings.package.version}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        for name, data in icons.items():
            package.writestr(name, data)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m heatwatch package",
                                     description="Build the HeatWatch Teams app package.")
    parser.add_argument("--out", type=Path, default=Path("build"),
                        help="folder for the zip (default: build)")
    parser.add_argument("--allow-placeholders", action="store_true",
                        help="accept the placeholder heatwatch.example.com developer URLs "
                             "(a local try; never for a package people install)")
    args = parser.parse_args(argv)
    app_id, teams_app_id, package, problems = load_package_settings()
    if not args.allow_placeholders:  # (a refused URL is reported once, as refused)
        problems += [line for line in placeholder_problems(package)
                     if not any(p.startswith(line.split("=", 1)[0] + "=") for p in problems)]
    settings = Settings(app_id=app_id, teams_app_id=teams_app_id, package=package)
    try:
        target = build(settings, args.out, problems=problems)
    except ConfigError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    sys.stdout.write(f"Built {target}: upload it in Teams (Apps -> Manage your apps -> Upload "
                     "an app) or to your org catalog.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
