"""The plans `make demo` prints, pinned: `quartz decide --dry-run --json` and
`quartz rebalance --dry-run --json` on a fresh `local` home at a fixed market time must equal
the golden files under tests/golden/ once the run-dependent fields are normalized.

A refactor that claims "no change of behaviour" keeps these green. A change that means to alter
the plan regenerates them and shows the diff in review:

    QUARTZ_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q -p no:cacheprovider \
        tests/test_plan_golden.py

With QUARTZ_UPDATE_GOLDEN=1 the tests write the golden files instead of comparing."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from cli import quartz
from trading_support import seed_calendar

GOLDEN = Path(__file__).parent / "golden"
# A Tuesday inside the regular session, at the start of a minute: the simulator's prices move
# once a minute, so the run has ~60 s before the simulated clock reaches the next price.
MARKET_TIME = "2026-11-24T10:00:00+09:00"
# Read when the test module loads: the conftest scrubs QUARTZ_* from every test's environment.
UPDATE = os.environ.get("QUARTZ_UPDATE_GOLDEN") == "1"

# `dec-20261124T100006-ca63bd`: the market clock's time to the second (the clock starts at
# QUARTZ_MARKET_TIME and advances in real time, so the seconds are the process's elapsed time)
# and a random suffix. The minute is kept: it selects the simulator's prices.
_RUN_ID = re.compile(r"^(?P<keep>[a-z]+-\d{8}T\d{4})\d{2}-[0-9a-f]{6}$")
# `2026-11-24T01:00:06.220010Z`, the market clock: seconds are elapsed time, as above.
_MARKET_AT = re.compile(r"^(?P<keep>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}):\d{2}\.\d{6}Z$")
# `technical/runs/2026/11/29/014216.639398Z.json`: store keys are named by the wall clock
# at which this run's agents produced the document.
_KEY_TIME = re.compile(r"\d{4}/\d{2}/\d{2}/\d{6}\.\d{6}Z")


def normalize(plan: dict) -> dict:
    """The plan with only run-dependent values replaced by placeholders. A value whose shape
    no longer matches is kept as is, so a format change shows in the diff."""
    raw_run_id = plan["run_id"]
    m = _RUN_ID.match(raw_run_id)
    run_id = f"{m['keep']}<ss>-<hex>" if m else raw_run_id

    def walk(value):
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str):
            # The run id and everything derived from it (each order's request id).
            return value.replace(raw_run_id, run_id)
        return value

    out = walk(plan)
    # Wall-clock time of the run.
    out["produced_at"] = "<produced_at>"
    session = out.get("session") or {}
    if isinstance(session.get("at"), str) and (m := _MARKET_AT.match(session["at"])):
        session["at"] = f"{m['keep']}:<ss>Z"
    inputs = out.get("inputs") or {}
    inputs["sources"] = {k: _KEY_TIME.sub("<yyyy/mm/dd>/<hhmmss.ffffff>Z", v)
                         for k, v in (inputs.get("sources") or {}).items()}
    macro = inputs.get("macro") or {}
    # Wall-clock age of the macro summary this run just produced: 0.0 or 0.01 h depending
    # on how long the other agents took.
    if macro.get("age_hours") is not None:
        macro["age_hours"] = "<age>"
    return out


def dump(doc: dict) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.fixture
def home(quartz_home, calendar_cache):
    """A fresh QUARTZ_HOME with the KRX calendar already cached (saves ~2 s per process)."""
    seed_calendar(quartz_home, calendar_cache)
    return quartz_home


def check_golden(command: str, name: str) -> None:
    """Run `quartz COMMAND --dry-run --json` and compare its normalized plan with the golden
    file `name` (or write the file when QUARTZ_UPDATE_GOLDEN=1)."""
    started = time.monotonic()
    proc = quartz(command, "--dry-run", "--json", env={"QUARTZ_MARKET_TIME": MARKET_TIME},
                  timeout=240)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-2000:]
    actual = dump(normalize(json.loads(proc.stdout)))
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    expected = path.read_text(encoding="utf-8")
    hint = ""
    if elapsed >= 50:
        hint = (f" The run took {elapsed:.0f} s: the simulated clock may have reached the next "
                "minute, whose prices differ. Rerun on a less loaded machine before trusting "
                "this diff.")
    assert actual == expected, (
        f"the {command} plan differs from {path.name}.{hint} If the change is intended, "
        "regenerate with QUARTZ_UPDATE_GOLDEN=1.")


@pytest.mark.slow
def test_decide_dry_run_plan_matches_the_golden_file(home):
    check_golden("decide", "decide_dry_run_plan.json")


def test_rebalance_dry_run_plan_matches_the_golden_file(home):
    check_golden("rebalance", "rebalance_dry_run_plan.json")
