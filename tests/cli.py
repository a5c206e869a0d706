"""Run the real `quartz` console script in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

QUARTZ = str(Path(sys.executable).with_name("quartz"))


def quartz(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
           input: str | None = None) -> subprocess.CompletedProcess:
    """Run `quartz ARGS` with the test's environment plus `env`; never raises on exit code."""
    full_env = {**os.environ, "COLUMNS": "120", **(env or {})}
    return subprocess.run([QUARTZ, *args], env=full_env, capture_output=True, text=True,
                          timeout=timeout, input=input)


def quartz_json(*args: str, env: dict[str, str] | None = None, timeout: float = 120):
    """Run with `--json` appended and parse stdout; asserts exit 0."""
    proc = quartz(*args, "--json", env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
