"""Shared fixtures: an isolated QUARTZ_HOME per test, and a clean environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# Settings the tests must not inherit from the developer's shell.
_SCRUB = [k for k in os.environ if k.startswith(("QUARTZ_", "HANSEC_", "GPT_", "GEMINI_",
                                                  "ECOS_", "FRED_", "S3_", "AWS_"))]


@pytest.fixture(autouse=True)
def quartz_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs against its own QUARTZ_HOME and no inherited Quartz settings."""
    for key in _SCRUB + ["IS_PRODUCTION"]:
        monkeypatch.delenv(key, raising=False)
    home = tmp_path / "quartz-home"
    monkeypatch.setenv("QUARTZ_HOME", str(home))
    return home
