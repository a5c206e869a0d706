"""Logging for every command, server and job: one stderr handler, secrets masked.

Two formats: human text (a terminal) and JSON lines (servers and jobs, whose stderr a log
collector reads): one object per line with `time` (UTC), `level`, `logger`, `message`, and
the `run_id` / `request_id` of the work in progress when there is one. `log_context` binds
those two for a block of code, across awaits (context variables)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from quartz_cli.redaction import RedactingFilter, redact

FORMATS = ("auto", "json", "text")

_run_id: ContextVar[str | None] = ContextVar("quartz_run_id", default=None)
_request_id: ContextVar[str | None] = ContextVar("quartz_request_id", default=None)


@contextmanager
def log_context(*, run_id: str | None = None, request_id: str | None = None) -> Iterator[None]:
    """Tag every log line written inside the block with `run_id` and/or `request_id`."""
    tokens = []
    if run_id is not None:
        tokens.append((_run_id, _run_id.set(run_id)))
    if request_id is not None:
        tokens.append((_request_id, _request_id.set(request_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current_run_id() -> str | None:
    """The run id bound by the innermost `log_context`, if any."""
    return _run_id.get()


def current_request_id() -> str | None:
    """The request_id bound by the innermost `log_context`, if any."""
    return _request_id.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        run_id, request_id = _run_id.get(), _request_id.get()
        if run_id:
            line["run_id"] = run_id
        if request_id:
            line["request_id"] = request_id
        if record.exc_text:
            line["exception"] = record.exc_text
        return redact(json.dumps(line, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message [run … request …]` for a person at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        tags = [f"{name} {value}" for name, value in
                (("run", _run_id.get()), ("request", _request_id.get())) if value]
        return f"{text} [{', '.join(tags)}]" if tags else text


def resolve_format(fmt: str | None, stream: object = None) -> str:
    """`json` or `text`: `auto` (the default) is text on a terminal, JSON otherwise."""
    if fmt in ("json", "text"):
        return fmt
    isatty = getattr(stream or sys.stderr, "isatty", None)
    return "text" if callable(isatty) and isatty() else "json"


def setup_logging(verbosity: int, fmt: str = "text") -> None:
    """Configure stderr logging: warnings by default, -v info, -vv debug; `fmt` json, text or
    auto; always redacted."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if resolve_format(fmt) == "json" else TextFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request line at INFO; keep it at -vv so -v stays readable.
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
