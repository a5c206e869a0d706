"""Native core vs numpy reference vs TA-Lib 0.8.2 (the pinned reference): values within the
issue's tolerances and NaN warm-up exactly where TA-Lib has it, for both variants of the
native lane kernels (AVX2 + FMA, and baseline for CPUs without them)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import talib

from quartz_cli import _native
from quartz_cli.errors import InputError
from quartz_cli.indicators import native, reference
from quartz_cli.indicators.fibonacci import retracement_levels
from quartz_cli.indicators.spec import SERIES, first_defined_bar

RSI_ABS = 1e-9
PRICE_REL = 1e-9
SWING = 60

_AVX2_UNAVAILABLE = _native.isa_info()["avx2_unavailable"]
# Every kernel variant, each forced in turn; AVX2 only where this machine can run it.
ISAS = [
    "baseline",
    pytest.param("avx2", marks=pytest.mark.skipif(
        _AVX2_UNAVAILABLE is not None, reason=f"AVX2 variant unavailable: {_AVX2_UNAVAILABLE}")),
]


def _universe(tickers: int = 40, bars: int = 700, seed: int = 7):
    """KRW-like prices from ~1,000 to ~3,000,000 won, on whole won, with highs and lows."""
    rng = np.random.default_rng(seed)
    level = np.exp(rng.uniform(np.log(1_000), np.log(3_000_000), tickers))[:, None]
    close = np.round(level * np.exp(np.cumsum(rng.normal(0, 0.02, (tickers, bars)), axis=1)))
    high = close + np.round(np.abs(rng.normal(0, 0.01, close.shape)) * close)
    low = close - np.round(np.abs(rng.normal(0, 0.01, close.shape)) * close)
    return close, high, low


def _talib(close, high, low) -> dict[str, np.ndarray]:
    out: dict[str, list] = {name: [] for name in SERIES}
    for c, h, lo in zip(close, high, low, strict=True):
        for p in (5, 10, 20):
            out[f"sma{p}"].append(talib.SMA(c, p))
        out["rsi14"].append(talib.RSI(c, 14))
        m, s, hist = talib.MACD(c, 12, 26, 9)
        out["macd"].append(m)
        out["macd_signal"].append(s)
        out["macd_hist"].append(hist)
        u, mid, low_band = talib.BBANDS(c, 20, 2.0, 2.0, 0)
        out["bb_upper"].append(u)
        out["bb_middle"].append(mid)
        out["bb_lower"].append(low_band)
        out["swing_high"].append(talib.MAX(h, SWING))
        out["swing_low"].append(talib.MIN(lo, SWING))
    return {k: np.array(v) for k, v in out.items()}


def _assert_close(name: str, got: np.ndarray, want: np.ndarray, close: np.ndarray) -> None:
    assert got.shape == want.shape
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    assert np.array_equal(nan_got, nan_want), f"{name}: NaN warm-up differs"
    diff = np.abs(got - want)[~nan_want]
    if name == "rsi14":
        assert diff.max(initial=0.0) <= RSI_ABS, f"{name}: max abs diff {diff.max()}"
    else:
        # MACD lines are price-valued (won); scale by the bar's price.
        scale = np.broadcast_to(close, got.shape)[~nan_want]
        assert (diff <= PRICE_REL * scale).all(), f"{name}: max rel {np.max(diff / scale)}"


@pytest.fixture(scope="module")
def universe():
    close, high, low = _universe()
    return close, high, low, _talib(close, high, low)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", SERIES)
def test_native_batch_matches_talib(universe, name, isa):
    close, high, low, want = universe
    got = native.technical_batch(close, high, low, swing_lookback=SWING, isa=isa)
    _assert_close(name, got[name], want[name], close)


@pytest.mark.parametrize("name", SERIES)
def test_numpy_reference_matches_talib(universe, name):
    close, high, low, want = universe
    got = reference.technical(close, high, low, swing_lookback=SWING)
    _assert_close(name, got[name], want[name], close)


def test_warm_up_is_nan_exactly_until_the_first_defined_bar(universe):
    close, high, low, _ = universe
    got = native.technical_batch(close, high, low, swing_lookback=SWING)
    for name in SERIES:
        first = first_defined_bar(name, SWING)
        assert np.isnan(got[name][:, :first]).all(), name
        assert np.isfinite(got[name][:, first:]).all(), name


@pytest.mark.parametrize("isa", ISAS)
def test_rsi_macd_and_sma_agree_with_talib_to_the_last_bit(universe, isa):
    close, high, low, want = universe
    got = native.technical_batch(close, high, low, swing_lookback=SWING, isa=isa)
    for name in ("rsi14", "macd", "macd_signal", "macd_hist", "sma5", "sma20", "swing_high"):
        assert np.array_equal(got[name], want[name], equal_nan=True), name


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("bars", [1, 14, 15, 19, 20, 33, 34, 35])
def test_short_series_match_talib(bars, isa):
    close, high, low = _universe(tickers=3, bars=bars, seed=bars)
    want = _talib(close, high, low)
    got = native.technical_batch(close, high, low, swing_lookback=SWING, isa=isa)
    for name in SERIES:
        _assert_close(name, got[name], want[name], close)


@pytest.mark.skipif(_AVX2_UNAVAILABLE is not None, reason="needs the AVX2 variant")
def test_avx2_and_baseline_variants_agree_to_the_last_bit():
    # 43 tickers and 701 bars: a partial block of lanes and a tail past the 4x4 tiles.
    close, high, low = _universe(tickers=43, bars=701, seed=11)
    avx2 = native.technical_batch(close, high, low, swing_lookback=SWING, isa="avx2")
    base = native.technical_batch(close, high, low, swing_lookback=SWING, isa="baseline")
    for name in SERIES:
        assert np.array_equal(avx2[name], base[name], equal_nan=True), name


def _cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@pytest.mark.skipif(platform.machine() != "x86_64" or not Path("/proc/cpuinfo").exists(),
                    reason="reads x86-64 CPU flags from /proc/cpuinfo")
def test_auto_picks_avx2_exactly_when_the_cpu_has_avx2_and_fma():
    info = _native.isa_info()
    has = {"avx2", "fma"} <= _cpu_flags()
    assert info["cpu_avx2_fma"] == has
    assert "baseline" in info["compiled"]
    assert native.isa() == ("avx2" if has and "avx2" in info["compiled"] else "baseline")


def test_unknown_isa_is_refused():
    close, high, low = _universe(tickers=2, bars=50)
    with pytest.raises(InputError, match="isa must be one of"):
        native.technical_batch(close, high, low, isa="sse2")
    with pytest.raises(ValueError, match="isa must be"):
        _native.technical_batch(close, high, low, SWING, 0, None, "avx512")


# Run in a child process: QUARTZ_NATIVE_ISA is read once per process, and a CPU without AVX2
# is emulated. Prints the automatic choice, whether the single MACD kernel (also dispatched)
# equals the batch, and the error of a forced AVX2 run; saves the automatic run's output to
# argv[1].
_CHILD = """
import sys
import numpy as np
from quartz_cli.errors import ConfigError
from quartz_cli.indicators import native
rng = np.random.default_rng(5)
close = np.round(5e4 * np.exp(np.cumsum(rng.normal(0, 0.02, (11, 300)), axis=1)))
high, low = close + 50, close - 50
try:
    print("auto", native.isa())
    got = native.technical_batch(close, high, low, swing_lookback=60)
    np.save(sys.argv[1], np.stack(list(got.values())))
    print("macd row equals batch", np.array_equal(native.macd(close)[0], got["macd"],
                                                  equal_nan=True))
    native.technical_batch(close, high, low, swing_lookback=60, isa="avx2")
    print("avx2 ran")
except ConfigError as exc:
    print("ConfigError", exc)
"""


def _child_inputs():
    rng = np.random.default_rng(5)
    close = np.round(5e4 * np.exp(np.cumsum(rng.normal(0, 0.02, (11, 300)), axis=1)))
    return close, close + 50, close - 50


def _run_child(tmp_path: Path, env_isa: str | None, prefix: tuple[str, ...] = ()):
    env = {k: v for k, v in os.environ.items() if k != "QUARTZ_NATIVE_ISA"}
    if env_isa is not None:
        env["QUARTZ_NATIVE_ISA"] = env_isa
    out = tmp_path / "child.npy"
    proc = subprocess.run([*prefix, sys.executable, "-c", _CHILD, str(out)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr  # a SIGILL would show as -4 / 132
    return proc.stdout, out


def _assert_child_matches_talib(out: Path) -> None:
    close, high, low = _child_inputs()
    want = _talib(close, high, low)
    got = np.load(out)
    for name, series in zip(SERIES, got, strict=True):
        _assert_close(name, series, want[name], close)
    for name in ("rsi14", "macd", "macd_signal", "macd_hist", "sma5", "sma20", "swing_high"):
        assert np.array_equal(got[SERIES.index(name)], want[name], equal_nan=True), name


def test_env_override_forces_the_baseline_and_refuses_avx2(tmp_path):
    stdout, out = _run_child(tmp_path, "baseline")
    assert "auto baseline" in stdout
    assert "macd row equals batch True" in stdout
    assert "ConfigError the AVX2 kernels cannot run" in stdout
    assert "QUARTZ_NATIVE_ISA=baseline" in stdout
    _assert_child_matches_talib(out)


def test_env_override_with_a_bad_value_is_a_config_error(tmp_path):
    stdout, _ = _run_child(tmp_path, "sse4")
    assert "ConfigError QUARTZ_NATIVE_ISA must be auto, avx2 or baseline" in stdout


@pytest.mark.skipif(platform.machine() != "x86_64" or shutil.which("qemu-x86_64") is None,
                    reason="needs qemu-user (qemu-x86_64) to emulate a CPU without AVX2")
def test_on_a_cpu_without_avx2_auto_runs_the_baseline_and_forced_avx2_is_an_error(tmp_path):
    # Nehalem: SSE4.2, no AVX. Any AVX instruction in the code that runs would be a SIGILL.
    stdout, out = _run_child(tmp_path, None, ("qemu-x86_64", "-cpu", "Nehalem"))
    assert "auto baseline" in stdout
    assert "macd row equals batch True" in stdout
    assert "ConfigError the AVX2 kernels cannot run: this CPU lacks AVX2/FMA" in stdout
    _assert_child_matches_talib(out)


def test_flat_series_rsi_is_zero_like_talib_0_8():
    flat = np.full((1, 50), 70_000.0)
    assert np.array_equal(native.rsi(flat)[0], talib.RSI(flat[0], 14), equal_nan=True)
    assert native.rsi(flat)[0, -1] == 0.0
    up, mid, lo = native.bbands(flat)
    assert up[0, -1] == mid[0, -1] == lo[0, -1] == 70_000.0


def test_single_kernels_equal_the_batch(universe):
    close, high, low, _ = universe
    batch = native.technical_batch(close, high, low, swing_lookback=SWING, threads=1)
    assert np.array_equal(native.rsi(close), batch["rsi14"], equal_nan=True)
    m, s, h = native.macd(close)
    assert np.array_equal(m, batch["macd"], equal_nan=True)
    assert np.array_equal(s, batch["macd_signal"], equal_nan=True)
    assert np.array_equal(h, batch["macd_hist"], equal_nan=True)
    u, mid, lo = native.bbands(close)
    assert np.array_equal(u, batch["bb_upper"], equal_nan=True)
    assert np.array_equal(mid, batch["bb_middle"], equal_nan=True)
    assert np.array_equal(lo, batch["bb_lower"], equal_nan=True)
    assert np.array_equal(native.sma(close, 10), batch["sma10"], equal_nan=True)
    assert np.array_equal(native.rolling_min(low, SWING), batch["swing_low"], equal_nan=True)


def test_thread_count_does_not_change_results(universe):
    close, high, low, _ = universe
    one = native.technical_batch(close, high, low, swing_lookback=SWING, threads=1)
    many = native.technical_batch(close, high, low, swing_lookback=SWING, threads=4)
    for name in SERIES:
        assert np.array_equal(one[name], many[name], equal_nan=True), name


def test_preallocated_output_is_filled_in_place(universe):
    close, high, low, _ = universe
    block = np.empty((len(SERIES), *close.shape))
    got = native.technical_batch(close, high, low, swing_lookback=SWING, out=block)
    assert np.shares_memory(got["rsi14"], block)
    with pytest.raises(ValueError, match="out must"):
        native.technical_batch(close, high, low, swing_lookback=SWING,
                               out=np.empty((len(SERIES), *close.shape), np.float32))



@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("offset", [0, 1, 3])
def test_output_at_any_alignment_with_a_part_block_matches_talib(isa, offset):
    # 13 rows (one part block) of 275 bars: rows start at every 8-byte offset of a cache line,
    # and `offset` shifts the whole output, so the streamed spans' head and tail are exercised.
    close, high, low = _universe(tickers=13, bars=275, seed=offset)
    want = _talib(close, high, low)
    flat = np.full(offset + len(SERIES) * close.size + 5, -1.0)
    block = flat[offset:offset + len(SERIES) * close.size].reshape(len(SERIES), *close.shape)
    got = native.technical_batch(close, high, low, swing_lookback=SWING, threads=2, out=block,
                                 isa=isa)
    for name in SERIES:
        _assert_close(name, got[name], want[name], close)
    assert (flat[:offset] == -1.0).all() and (flat[offset + block.size:] == -1.0).all()

def test_nan_input_is_refused_not_turned_into_an_rsi_of_zero():
    close, high, low = _universe(tickers=1, bars=100)
    close[0, 50] = np.nan
    with pytest.raises(InputError, match="halted or missing"):
        native.technical_batch(close, high, low, swing_lookback=SWING)
    from quartz_cli import _native

    with pytest.raises(ValueError, match="finite"):
        _native.technical_batch(close, high, low, SWING)
    # Infinities too, in every input, inside the vector body and in the tail (101 bars).
    for which in range(3):
        for bar in (3, 100):
            bad = [a.copy() for a in _universe(tickers=1, bars=101)]
            bad[which][0, bar] = -np.inf
            with pytest.raises(InputError, match="non-finite"):
                native.technical_batch(*bad, swing_lookback=SWING)
    # The single RSI kernel propagates NaN where TA-Lib reports a silent 0.0.
    assert np.isnan(native.rsi(close)[0, 60:]).all()
    assert talib.RSI(close[0], 14)[60] == 0.0


def test_rolling_extremes_are_exact_for_every_window():
    rng = np.random.default_rng(3)
    values = rng.integers(1, 1_000, size=(5, 301)).astype(float)
    for period in (1, 2, 7, 60, 301):
        assert np.array_equal(native.rolling_max(values, period),
                              reference.rolling_max(values, period), equal_nan=True)
        assert np.array_equal(native.rolling_min(values, period),
                              reference.rolling_min(values, period), equal_nan=True)


def test_fibonacci_levels_run_from_the_swing_high_to_the_low():
    levels = retracement_levels(80_000.0, 60_000.0)
    assert list(levels) == ["0", "23.6", "38.2", "50", "61.8", "78.6", "100"]
    assert levels["0"] == 80_000.0 and levels["100"] == 60_000.0
    assert levels["50"] == 70_000.0
    assert levels["61.8"] == pytest.approx(80_000.0 - 0.618 * 20_000.0)
