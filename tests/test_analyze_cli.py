"""`quartz analyze` as a user runs it (the real entry point in a subprocess, local env)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

MARKET_TIME = "2026-11-20T10:30:00+09:00"


def quartz(*args: str, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "QUARTZ_MARKET_TIME": MARKET_TIME, "QUARTZ_SIM_RATE_LIMIT_PER_S": "0",
            "COLUMNS": "160", **env}
    return subprocess.run([sys.executable, "-m", "quartz_cli", *args], capture_output=True,
                          text=True, env=full, timeout=120)


def test_all_periods_json_has_every_indicator_and_a_chart(tmp_path):
    png = tmp_path / "chart.png"
    proc = quartz("analyze", "005930", "000660", "--period", "all", "--json", "--chart", str(png))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert "synthetic" in data["data_source"]
    assert [r["code"] for r in data["results"]] == ["005930", "000660"]
    for r in data["results"]:
        assert r["ok"] and set(r["periods"]) == {"D", "W", "M"}
        for a in r["periods"].values():
            assert None not in a["values"].values()
            assert a["signals"]["rsi"] in ("overbought", "oversold", "neutral")
            assert len(a["fibonacci_levels"]) == 7
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 50_000
    # Every ticker and every period asked for is drawn, and the run says where.
    assert data["chart"]["tickers"] == ["005930", "000660"]
    assert data["chart"]["periods"] == ["D", "W", "M"] and data["chart"]["left_out"] == {}
    assert f"chart written to {png}: 005930, 000660 (D, W, M bars)" in " ".join(
        proc.stderr.split())


def test_table_shows_signals_and_the_synthetic_label():
    proc = quartz("analyze", "005930", "--period", "W")
    assert proc.returncode == 0, proc.stderr
    assert "synthetic sample market" in proc.stdout
    assert "RSI" in proc.stdout and "MACD" in proc.stdout and "Fib" in proc.stdout


def test_a_failing_ticker_is_shown_and_exit_code_is_8():
    proc = quartz("analyze", "005930", "999999", "--json")
    assert proc.returncode == 8, proc.stderr
    results = json.loads(proc.stdout)["results"]
    assert results[0]["ok"] and not results[1]["ok"]
    assert "999999" in results[1]["error"]
    assert "1 of 2 ticker(s) failed" in proc.stderr


@pytest.mark.parametrize("args,message", [
    (("analyze", "5930"), "not a KRX stock code"),
    (("analyze", "005930", "--period", "Q"), "choose D, W, M or all"),
    (("analyze", "005930", "--chart", "x.jpg"), "must end in .png"),
])
def test_bad_input_exits_4_with_a_message(args, message):
    proc = quartz(*args)
    assert proc.returncode == 4
    assert message in proc.stderr


def test_halts_are_reported_in_the_table():
    proc = quartz("analyze", "005930", QUARTZ_SIM_HALTS="005930:2026-11-02..2026-11-04")
    assert proc.returncode == 0, proc.stderr
    assert "3 halted session(s) skipped" in proc.stdout
