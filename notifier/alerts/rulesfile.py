"""The rules file (`RULES_FILE`) as a TOML document: its `[[rule]]`, `[[route]]`,
`[[schedule]]` and `[[escalation]]` tables are read by their own modules from this one
document. Every problem is a ConfigError naming the file and the fix."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from common.errors import ConfigError


def parse_document(text: str, source: str = "rules") -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source} is not valid TOML: {error}. Fix the file.") from None


def read_document(path: Path) -> dict[str, Any] | None:
    """The document of the rules file; None when there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ConfigError(f"RULES_FILE={str(path)!r} cannot be read ({error.strerror}).") \
            from None
    return parse_document(text, str(path))
