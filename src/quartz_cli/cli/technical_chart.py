"""Chart for `quartz analyze --chart`: price with Bollinger bands and SMAs, RSI, and MACD
panels per ticker (matplotlib, Agg backend, imported only when a chart is asked for)."""

from __future__ import annotations

from pathlib import Path

from quartz_cli.errors import InputError

MAX_TICKERS = 4


def draw(path: Path, results: list, charts: dict, period: str, source: str) -> list[str]:
    """Write a PNG with one column per ticker (the first MAX_TICKERS that succeeded) for
    `period`; returns the tickers drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn = [r for r in results if r.ok and (r.code, period) in charts][:MAX_TICKERS]
    if not drawn:
        raise InputError("nothing to chart: no ticker was analysed successfully")
    fig, axes = plt.subplots(3, len(drawn), figsize=(6 * len(drawn), 8), squeeze=False,
                             sharex="col", gridspec_kw={"height_ratios": [3, 1, 1.2]})
    for col, r in enumerate(drawn):
        c = charts[(r.code, period)]
        x = c.days
        s = c.series
        price, rsi, macd = axes[0][col], axes[1][col], axes[2][col]
        price.plot(x, c.close, color="black", lw=1.2, label="close")
        price.fill_between(x, s["bb_lower"], s["bb_upper"], color="tab:blue", alpha=0.12,
                           label="Bollinger 20, 2σ")
        for name, colour in (("sma5", "tab:orange"), ("sma10", "tab:green"),
                             ("sma20", "tab:blue")):
            price.plot(x, s[name], color=colour, lw=0.9, label=name.upper())
        # Korean names need a CJK font the default install may lack: titles use the code.
        price.set_title(f"{r.code} ({period} bars, last {len(x)})")
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
    fig.suptitle(f"Quartz technical analysis — {source}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [r.code for r in drawn]
