"""`quartz macro run` / `show` end to end (subprocess, real exit codes): the local acceptance,
degraded mode (one source failing, all failing), staleness, and paper against loopback fakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from fakes.gemini import FakeGemini
from fakes.server import LoopbackServer
from quartz_cli.agents.macro import load_summary
from quartz_cli.domain.macro import SUMMARY_SENTENCES, is_one_sentence
from quartz_cli.sources import fakes
from quartz_cli.store.local import LocalStore

QUARTZ = [sys.executable, "-m", "quartz_cli"]


def quartz(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QUARTZ, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def store_of(home: Path, env: str = "local") -> LocalStore:
    return LocalStore(home / "store" / env)


def test_local_run_and_show(quartz_home: Path) -> None:
    run = quartz("macro", "run")
    assert run.returncode == 0, run.stderr
    assert "SAMPLE DATA" in run.stdout and "Bank of Korea ECOS" in run.stderr
    show = quartz("macro", "show")
    assert show.returncode == 0 and "Positive view" in show.stdout
    data = json.loads(quartz("macro", "show", "--json").stdout)
    assert data["positive_view"] and data["negative_view"]
    assert len(data["summary"]) == SUMMARY_SENTENCES
    assert all(is_one_sentence(s) for s in data["summary"])
    assert data["market_bias_hint"] in ("bullish", "bearish", "neutral", "uncertain")
    assert data["engine"] == "rules:macro-v1" and data["sample_data"] is True
    assert data["missing_sources"] == [] and data["stale"] is False
    assert {s["source"]: s["state"] for s in data["sources"]} == {
        "ecos": "fresh", "fred": "fresh", "worldbank": "fresh"}
    assert all(s["data_age_days"] is not None for s in data["sources"])
    full = json.loads(quartz("macro", "show", "--full", "--json").stdout)
    assert len(full["report"]["series"]) == 16 and len(full["stats"]) == 16
    assert (store_of(quartz_home).get("macro-analysis/latest.json") or b"").count(b"-summary")


def test_one_source_failing_reuses_earlier_values(quartz_home: Path) -> None:
    first = quartz("macro", "run", "--json", QUARTZ_MACRO_FAKE_FAIL="fred")
    assert first.returncode == 0, first.stderr  # no earlier values: FRED is just missing
    data = json.loads(first.stdout)
    assert data["missing_sources"] == ["fred"]
    fred = next(s for s in data["sources"] if s["source"] == "fred")
    assert fred["state"] == "failed" and "HTTP 500" in fred["error"]
    assert fred["missing_series"] == ["us.fed_funds", "us.cpi", "us.core_cpi"]
    assert any("FRED failed" in s for s in data["summary"])

    assert quartz("macro", "run").returncode == 0
    again = json.loads(quartz("macro", "run", "--json", QUARTZ_MACRO_FAKE_FAIL="ecos").stdout)
    ecos = next(s for s in again["sources"] if s["source"] == "ecos")
    assert again["missing_sources"] == ["ecos"] and ecos["state"] == "failed"
    assert len(ecos["reused_series"]) == 7 and ecos["age_hours"] is not None
    reused = [s for s in again["stats"] if s["reused"]]
    assert {s["source"] for s in reused} == {"ecos"} and len(reused) == 7
    strict = quartz("macro", "run", "--strict", QUARTZ_MACRO_FAKE_FAIL="worldbank")
    assert strict.returncode == 8 and "worldbank" in strict.stderr


def test_all_sources_failing_with_an_empty_store(quartz_home: Path) -> None:
    run = quartz("macro", "run", "--json", QUARTZ_MACRO_FAKE_FAIL="ecos,fred,worldbank")
    assert run.returncode == 7
    assert "no macro source returned usable data" in run.stderr
    error = json.loads(run.stdout)  # one JSON document: the error
    assert error["error"] == "SourceError" and "ERROR-500" in error["message"]
    outlook = load_summary(store_of(quartz_home))
    assert outlook.summary is not None and outlook.bias == "uncertain"
    assert outlook.summary.market_bias_hint == "uncertain"
    assert sorted(outlook.summary.missing_sources) == ["ecos", "fred", "worldbank"]
    assert len(outlook.summary.summary) == SUMMARY_SENTENCES


def test_fake_failures_are_refused_outside_local(quartz_home: Path) -> None:
    run = quartz("--env", "paper", "macro", "run", QUARTZ_MACRO_FAKE_FAIL="fred")
    assert run.returncode == 3 and "only allowed in local" in run.stderr


def test_readers_flag_a_stale_summary(quartz_home: Path) -> None:
    assert quartz("macro", "run").returncode == 0
    store = store_of(quartz_home)
    fresh = load_summary(store)
    assert not fresh.stale and fresh.bias == fresh.summary.market_bias_hint
    later = fresh.summary.produced_at + timedelta(hours=25)
    stale = load_summary(store, now=later)
    assert stale.stale and stale.bias == "uncertain" and "25.0 h old" in stale.note
    assert not load_summary(store, now=later, max_age=timedelta(hours=48)).stale
    shown = json.loads(quartz("macro", "show", "--json", QUARTZ_MACRO_MAX_AGE_H="0.0001").stdout)
    assert shown["stale"] is True and shown["effective_bias"] == "uncertain"


def test_show_without_a_summary_fails_clearly(quartz_home: Path) -> None:
    show = quartz("macro", "show")
    assert show.returncode == 6 and "quartz macro run" in show.stderr


def test_paper_with_gemini_and_keys_never_leaks_them(quartz_home: Path) -> None:
    ecos_key, fred_key, gemini_key = "EcosPaperKey123", "fredpaperkey0123456789", "gem-key-999"
    fake = FakeGemini()
    fake.sources = [{"uri": "https://example.org/kr-trade", "title": "Korea trade data"}]
    fake.reply("Exports keep growing.", {
        "positive_view": "- Exports up.", "negative_view": "- Won weak.",
        "positive_summary": "Exports are up.", "negative_summary": "The won is weak.",
        "summary": [f"Point {i} is made here." for i in range(10)],
        "market_bias_hint": "neutral"})
    with LoopbackServer(fakes.ecos_app()) as e, LoopbackServer(fakes.fred_app()) as f, \
            LoopbackServer(fakes.worldbank_app()) as w, LoopbackServer(fake.app) as g:
        run = quartz("--env", "paper", "-vv", "macro", "run", "--json",
                     ECOS_API_KEY=ecos_key, FRED_API_KEY=fred_key, GEMINI_API_KEY=gemini_key,
                     QUARTZ_ECOS_BASE_URL=f"{e.url}/api", QUARTZ_FRED_BASE_URL=f"{f.url}/fred",
                     QUARTZ_WORLDBANK_BASE_URL=f"{w.url}/v2", QUARTZ_GEMINI_BASE_URL=g.url,
                     QUARTZ_GEMINI_MODEL="gemini-test-model")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["engine"] == "gemini:gemini-test-model" and data["sample_data"] is False
    assert "https://example.org/kr-trade" in [c["uri"] for c in data["cited_sources"]]
    assert fake.requests[0]["model"] == "gemini-test-model"
    assert "HTTP Request" in run.stderr  # -vv logged the request lines
    stored = b"".join((store_of(quartz_home, "paper").get(k) or b"")
                      for k in store_of(quartz_home, "paper").list("macro-analysis/"))
    for key in (ecos_key, fred_key, gemini_key):
        assert key not in run.stdout and key not in run.stderr and key.encode() not in stored


def test_paper_without_keys_names_the_variables(quartz_home: Path) -> None:
    with LoopbackServer(fakes.worldbank_app()) as w:
        run = quartz("--env", "paper", "macro", "run", "--json",
                     QUARTZ_WORLDBANK_BASE_URL=f"{w.url}/v2")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    errors = {s["source"]: s["error"] for s in data["sources"]}
    assert "ECOS_API_KEY is not set" in errors["ecos"]
    assert "FRED_API_KEY is not set" in errors["fred"]
    assert data["engine"].startswith("rules:")
    assert any("GEMINI_API_KEY is not set" in n for n in data["engine_notes"])


@pytest.mark.parametrize("cmd", [["macro", "--help"], ["macro", "run", "--help"],
                                 ["macro", "show", "--help"]])
def test_help(cmd: list[str]) -> None:
    out = quartz(*cmd)
    assert out.returncode == 0
    assert ("show" in out.stdout) if cmd == ["macro", "--help"] else ("--json" in out.stdout)
