"""What every command shares: global options, configuration, output and error rendering."""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, TypeVar, cast

from quartz_cli.errors import QuartzError
from quartz_cli.redaction import redact

if TYPE_CHECKING:
    from rich.console import Console

    from quartz_cli.config import Config

T = TypeVar("T")


@dataclass
class Globals:
    """Root options (`--env`, `--config`, `--json`, `-v`), carried in the click context."""

    env: str | None = None
    config_file: str | None = None
    json: bool = False
    verbose: int = 0
    cache: dict[str, Any] = field(default_factory=dict)
    # A JSON document went to stdout: a failure after it adds none (stdout stays one document).
    printed_json: bool = False


_current = Globals()
# `--json` seen on the process's command line before parsing (set by `main.main` only).
_json_in_argv = False


def json_in_argv() -> None:
    """Record that this process's command line asks for `--json`, wherever it was given, so
    that a failure before the command reads its own option is still a JSON document."""
    global _json_in_argv
    _json_in_argv = True
    _current.json = True


def set_globals(g: Globals) -> None:
    """Called once by the root callback; commands read the options through `globals_of`."""
    global _current
    g.json = g.json or _json_in_argv
    _current = g


def globals_of() -> Globals:
    """The root options of this invocation (defaults when called outside the CLI)."""
    return _current


def want_json(flag: bool = False) -> bool:
    """True if this command's `--json` or the root's `--json` was given."""
    if flag:
        globals_of().json = True
    return globals_of().json


def config() -> Config:
    """The resolved configuration (loaded once per process)."""
    from quartz_cli.config import load_config

    g = globals_of()
    if "config" not in g.cache:
        g.cache["config"] = load_config(g.env, config_file=g.config_file)
    return g.cache["config"]


def run(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run an async use case to completion."""
    return asyncio.run(coro_fn())


class _RedactingStream:
    """A text stream that masks secrets on their way out."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(redact(text))

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", "utf-8")


def console(stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr) that masks secrets."""
    from rich.console import Console

    # The wrapper quacks like the text stream rich writes to (write, flush, isatty).
    stream = cast("IO[str]", _RedactingStream(sys.stderr if stderr else sys.stdout))
    return Console(file=stream,
                   stderr=stderr, highlight=False)


def print_json(data: Any) -> None:
    """One JSON document on stdout."""
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write(redact(text) + "\n")
    sys.stdout.flush()
    globals_of().printed_json = True


def emit(data: Any, render: Callable[[Any], None], json_flag: bool = False) -> None:
    """Print `data` as JSON with `--json`, else call `render(console)`."""
    if want_json(json_flag):
        print_json(data)
    else:
        render(console())


def report_error(exc: QuartzError) -> None:
    """Print a Quartz error: one line on stderr (and with --json its JSON object on stdout,
    unless the command's own document, which says what failed, is already there)."""
    g = globals_of()
    if g.json and not g.printed_json:
        print_json(exc.to_dict() | {"exit_code": exc.exit_code})
    from rich.markup import escape

    err = console(stderr=True)
    err.print(f"[bold red]error:[/] {escape(exc.message)}", soft_wrap=True)
    if exc.hint:
        err.print(f"[dim]hint: {escape(exc.hint)}[/]", soft_wrap=True)


def report_usage(exc: Any) -> None:
    """A command-line error found by the parser (a `typer.TyperException`): the parser's
    own rendering on stderr, and with --json a `UsageError` document on stdout."""
    from typer import rich_utils

    g = globals_of()
    # A bare group (`quartz --json trade`) prints its help, which is the answer.
    asked_for_help = type(exc).__name__ == "NoArgsIsHelpError"
    if g.json and not g.printed_json and not asked_for_help:
        print_json({"error": "UsageError", "message": exc.format_message(),
                    "exit_code": exc.exit_code})
    rich_utils.rich_format_error(exc)


def confirm(question: str, *, refusal: str) -> None:
    """Ask a [y/N] question on stderr (stdout stays for results); anything but yes, or no
    answer at all (end of input), raises `Declined` with `refusal`: exit 9."""
    from quartz_cli.errors import Declined

    sys.stderr.write(f"{question} [y/N]: ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    if not answer:
        sys.stderr.write("\n")
    if answer.strip().lower() not in ("y", "yes"):
        raise Declined(refusal, hint="answer y to proceed, or pass --yes")


def report_crash(exc: BaseException) -> None:
    """An unexpected exception: a masked one-liner, and the masked traceback with -v (with
    --json also an `InternalError` document on stdout)."""
    g = globals_of()
    if g.json and not g.printed_json:
        print_json({"error": "InternalError", "message": f"{type(exc).__name__}: {exc}",
                    "exit_code": 1})
    sys.stderr.write(redact(f"internal error: {type(exc).__name__}: {exc}\n"))
    if globals_of().verbose:
        sys.stderr.write(redact("".join(traceback.format_exception(exc))))
    else:
        sys.stderr.write("run again with -v for the traceback\n")
