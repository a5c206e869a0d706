"""Keeps secret values out of every line Quartz prints or logs.

Secrets are registered when the configuration is loaded. `redact` masks them two ways:
- by value: each registered value (and its URL-encoded form) becomes `***`; an account
  number is registered in every form the broker or a user writes it (`12345678-01`,
  `1234567801`, and the bare 8-digit `12345678` the broker's `CANO` parameter carries);
- by form: whatever follows a parameter or header that always holds a secret (`CANO=`,
  `ACNT_PRDT_CD=`, `appkey`, `appsecret`, `authorization`, `token=`, `api_key=` ...) in a
  query string, a JSON body or a header line, so a value that was never registered (the
  2-digit product code, a freshly issued token) is masked too.
The CLI's error renderer and the logging filter both pass text through it, so a secret that
leaks into an exception message from a third-party library (an httpx URL) is still masked.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import quote

MASK = "***"
_MIN_LEN = 4  # shorter values would mask ordinary words

_lock = threading.Lock()
_secrets: set[str] = set()

# Names whose value is always secret, as KIS, OpenAI, Gemini, ECOS and FRED spell them.
_PARAM_NAMES = (r"CANO|ACNT_PRDT_CD|appkey|appsecret|secretkey|approval_?key|access_?token|"
                r"refresh_?token|token|api_?key|password")
_HEADER_NAMES = r"authorization|appkey|appsecret|secretkey|approval_?key|x-api-key|x-goog-api-key"
# name=value in a query string or form body, and `Name: value` in a header line.
_BY_PARAM = re.compile(
    rf"(?i)(?<![A-Za-z0-9_-])(?:({_PARAM_NAMES})(=|%3D)|({_HEADER_NAMES})(:[ \t]*))"
    r"(?:Bearer[ \t]+)?([^&\s\"',;)}\]]+)")
# "name": "value" in JSON (also Python reprs with single quotes).
_BY_JSON = re.compile(
    rf"(?i)([\"'])({_PARAM_NAMES}|{_HEADER_NAMES})\1(\s*:\s*)([\"'])(?:Bearer )?[^\"']*\4")


def register_secret(value: str | None) -> None:
    """Remember a secret value so that `redact` masks it from now on."""
    if not value or len(value) < _MIN_LEN:
        return
    with _lock:
        _secrets.add(value)
        _secrets.add(quote(value, safe=""))


def register_account(value: str | None, product: str | None = None) -> None:
    """Remember an account number in every form it travels in: as configured, without its
    dash, the 8-digit CANO alone, and CANO with `product` (the 2-digit code, itself too short
    to mask by value: the forms in `redact` catch it)."""
    if not value:
        return
    register_secret(value)
    digits = value.replace("-", "").strip()
    if not digits.isdigit() or len(digits) < 8:
        return
    number = digits[:8]
    products = {p for p in (digits[8:], product) if p}
    register_secret(number)
    for code in products:
        register_secret(f"{number}{code}")
        register_secret(f"{number}-{code}")


def _mask_param(match: re.Match[str]) -> str:
    if match[5].startswith(MASK):
        return match[0]
    name, sep = (match[1], match[2]) if match[1] else (match[3], match[4])
    return f"{name}{sep}{MASK}"


def redact(text: str) -> str:
    """Return `text` with every registered secret, and every value of a parameter or header
    that always holds a secret, replaced by `***`."""
    if _secrets:
        with _lock:
            values = sorted(_secrets, key=len, reverse=True)
        for value in values:
            if value in text:
                text = text.replace(value, MASK)
    if "=" in text or ":" in text:
        text = _BY_PARAM.sub(_mask_param, text)
        text = _BY_JSON.sub(lambda m: f"{m[1]}{m[2]}{m[1]}{m[3]}{m[4]}{MASK}{m[4]}", text)
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
