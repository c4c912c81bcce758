"""Bearer tokens kept out of logs: the tokens sent are remembered, and scrubbed from the
records of the loggers that may quote them (httpx's, httpcore's and the client's).

Importing this module puts the filter on those loggers, once per process.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque

from reconciler.live.errors import MIN_SECRET
from reconciler.live.errors import scrub

__all__ = [
    "HTTP_LOGGERS",
    "SECRETS",
    "ScrubSecrets",
    "Secrets",
    "guarded",
    "install_log_scrubbing",
]

_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\"\\),;]+")
# The loggers of httpx and httpcore, whose debug records quote exceptions: a server that
# echoes the Authorization header in a line no parser takes would put the token in them.
# And pcr's own loggers of the same requests.
HTTP_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "reconciler.live.client",
    "reconciler.live.transport",
)


class Secrets:
    """The last few bearer tokens the clients of this process sent, to scrub from logs."""

    def __init__(self, keep: int = 16) -> None:
        self._tokens: deque[str] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def add(self, token: str) -> None:
        if len(token) < MIN_SECRET:  # `scrub` would leave it alone: see there
            return
        with self._lock:
            if token not in self._tokens:
                self._tokens.append(token)

    def scrub(self, text: str) -> str:
        with self._lock:
            tokens = tuple(self._tokens)
        return _BEARER.sub(r"\1<hidden>", scrub(text, *tokens))


SECRETS = Secrets()


class ScrubSecrets(logging.Filter):
    """Takes any bearer token (and each of `secrets`) out of a log record's message before a
    handler sees it."""

    def __init__(self, secrets: Secrets = SECRETS) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.secrets.scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_log_scrubbing() -> None:
    """Put a `ScrubSecrets` on each of `HTTP_LOGGERS` that has none yet."""
    for name in HTTP_LOGGERS:
        guarded(logging.getLogger(name))


def guarded(logger: logging.Logger) -> logging.Logger:
    """`logger`, with a `ScrubSecrets` on it (once): what a client logs of its requests."""
    if not any(isinstance(f, ScrubSecrets) for f in logger.filters):
        logger.addFilter(ScrubSecrets())
    return logger


install_log_scrubbing()
