"""Logging set-up with a filter that keeps secrets out of every log line."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import urlparse

from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web import RequestPayloadError

_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9\-_.~+/=]+", re.IGNORECASE)
_JWT = re.compile(r"eyJ[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+")
REDACTED = "***"


def redacted_url(url: str) -> str:
    """The URL with any password in it replaced, for logs and error messages."""
    try:
        parsed = urlparse(url)
        password = parsed.password
    except ValueError:
        return url
    if not password:
        return url
    user = parsed.username or ""
    host = parsed.netloc.rsplit("@", 1)[-1]
    return parsed._replace(netloc=f"{user}:{REDACTED}@{host}").geturl()


class RedactSecrets(logging.Filter):
    """Replaces known secret values, bearer tokens and JWTs in a record's final message."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _BEARER.sub(r"\1" + REDACTED, text)
        return _JWT.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(level: str, secrets: Iterable[str]) -> None:
    """Root handler to stderr, redaction on it, and chatty libraries turned down."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("msrest", "msal", "urllib3", "azure", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class QuietClientErrors(logging.Filter):
    """For `aiohttp.server`: a request whose HTTP aiohttp cannot parse (a broken chunk size,
    a body that does not inflate) is logged there at ERROR with a traceback, also after the
    handler answered it 400 (aiohttp reads the rest of the body to keep the connection). That
    is the client's fault, not a bug here: one WARNING line saying what, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        problem = record.exc_info[1] if record.exc_info else None
        cause: BaseException | None = problem
        while cause is not None and not isinstance(cause, HttpProcessingError
                                                   | RequestPayloadError):
            cause = cause.__cause__
        if problem is not None and cause is not None:
            record.msg, record.args = "%s: the client sent broken HTTP (%s)", (
                record.getMessage(), " ".join(str(cause).split())[:200])
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


QUIET_CLIENT_ERRORS = QuietClientErrors()  # one instance: adding it again changes nothing
