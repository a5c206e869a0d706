"""Keeps secret values out of every line Quartz prints or logs.

Secrets are registered when the configuration is loaded. `redact` replaces each registered
value (and the value's URL-encoded form) with `***`. The CLI's error renderer and the logging
filter both pass text through it, so a secret that leaks into an exception message from a
third-party library (an httpx URL carrying an API key, say) is still masked.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import quote

MASK = "***"
_MIN_LEN = 4  # shorter values would mask ordinary words

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that `redact` masks it from now on."""
    if not value or len(value) < _MIN_LEN:
        return
    with _lock:
        _secrets.add(value)
        _secrets.add(quote(value, safe=""))


def redact(text: str) -> str:
    """Return `text` with every registered secret replaced by `***`."""
    if not _secrets:
        return text
    with _lock:
        values = sorted(_secrets, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the final message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message or record.args:
            record.msg = clean
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks are formatted later; render them now so they can be masked too.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def setup_logging(verbosity: int) -> None:
    """Configure stderr logging: warnings by default, -v info, -vv debug; always redacted."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request line at INFO; keep it at -vv so -v stays readable.
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
