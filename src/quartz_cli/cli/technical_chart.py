"""Chart for `quartz analyze --chart`: price with Bollinger bands and SMAs, RSI, and MACD
panels per ticker (matplotlib, Agg backend, imported only when a chart is asked for)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quartz_cli.errors import InputError

# Wider than this the panels are too narrow to read: the rest are named as left out.
MAX_TICKERS = 6
PANELS = 3  # price with bands and MAs, RSI, MACD


def chart_plan(results: list, charts: dict, periods: list[str]
               ) -> tuple[list, dict[str, str]]:
    """(the results to draw: the first MAX_TICKERS with bars for every period, {ticker left
    out: why}); InputError when there is nothing to draw."""
    left_out = {r.code: "analysis failed" for r in results if not r.ok}
    usable = [r for r in results if r.ok and all((r.code, p) in charts for p in periods)]
    left_out |= {r.code: "no bars to draw" for r in results if r.ok and r not in usable}
    left_out |= {r.code: f"at most {MAX_TICKERS} tickers per chart"
                 for r in usable[MAX_TICKERS:]}
    if not usable:
        raise InputError("nothing to chart: no ticker was analysed successfully")
    return usable[:MAX_TICKERS], left_out


def draw(path: Path, results: list, charts: dict, periods: list[str], source: str
         ) -> tuple[list[str], dict[str, str]]:
    """Write a PNG with one column per ticker and three panels per period in `periods`
    (`chart_plan` chooses the tickers); returns (the tickers drawn, {ticker left out: why})."""
    drawn, left_out = chart_plan(results, charts, periods)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ratios = [3, 1, 1.2] * len(periods)
    fig, axes = plt.subplots(PANELS * len(periods), len(drawn),
                             figsize=(6 * len(drawn), 8 * len(periods)), squeeze=False,
                             gridspec_kw={"height_ratios": ratios})
    for col, r in enumerate(drawn):
        for row, period in enumerate(periods):
            _panels(axes, PANELS * row, col, r.code, period, charts[(r.code, period)])
    fig.suptitle(f"Quartz technical analysis — {source}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [r.code for r in drawn], left_out


def _panels(axes: Any, top: int, col: int, code: str, period: str, c: Any) -> None:
    """One ticker's three panels for one period, from row `top` of column `col`."""
    x = c.days
    s = c.series
    price, rsi, macd = axes[top][col], axes[top + 1][col], axes[top + 2][col]
    price.plot(x, c.close, color="black", lw=1.2, label="close")
    price.fill_between(x, s["bb_lower"], s["bb_upper"], color="tab:blue", alpha=0.12,
                       label="Bollinger 20, 2σ")
    for name, colour in (("sma5", "tab:orange"), ("sma10", "tab:green"),
                         ("sma20", "tab:blue")):
        price.plot(x, s[name], color=colour, lw=0.9, label=name.upper())
    # Korean names need a CJK font the default install may lack: titles use the code.
    price.set_title(f"{code} ({period} bars, last {len(x)})")
    price.legend(loc="upper left", fontsize=7)
    rsi.plot(x, s["rsi14"], color="tab:purple", lw=1)
    rsi.axhline(70, color="tab:red", lw=0.7, ls="--")
    rsi.axhline(30, color="tab:green", lw=0.7, ls="--")
    rsi.set_ylim(0, 100)
    rsi.set_ylabel("RSI 14")
    macd.plot(x, s["macd"], color="tab:blue", lw=1, label="MACD")
    macd.plot(x, s["macd_signal"], color="tab:orange", lw=1, label="signal")
    macd.bar(x, s["macd_hist"], color="grey", alpha=0.5, label="histogram")
    macd.set_ylabel("MACD 12/26/9")
    macd.legend(loc="upper left", fontsize=7)
    macd.tick_params(axis="x", labelrotation=30, labelsize=7)
