"""Scripted price adjustments of the sample market (a split, a dividend): the chart answers
bars before the ex-date with prices multiplied by the ratio and volume divided by it, as a
broker's adjusted history (`FID_ORG_ADJ_PRC=0`) does. Spec (`QUARTZ_SIM_ADJUSTMENTS`):
`CODE:YYYY-MM-DD:RATIO` joined by `;`, e.g. `005930:2026-11-10:0.5` for a 2-for-1 split."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from quartz_cli.domain.bars import Bar
from quartz_cli.errors import ConfigError


def parse_adjustments(spec: str) -> dict[str, list[tuple[date, Decimal]]]:
    """code → (ex-date, ratio) pairs."""
    out: dict[str, list[tuple[date, Decimal]]] = {}
    for item in filter(None, (part.strip() for part in spec.split(";"))):
        try:
            code, day, ratio = item.split(":")
            pair = (date.fromisoformat(day.strip()), Decimal(ratio.strip()))
        except (ValueError, InvalidOperation):
            raise ConfigError(f"QUARTZ_SIM_ADJUSTMENTS: cannot read {item!r}",
                              hint="use CODE:YYYY-MM-DD:RATIO joined by ';'") from None
        if pair[1] <= 0:
            raise ConfigError(f"QUARTZ_SIM_ADJUSTMENTS: the ratio of {item!r} must be positive")
        out.setdefault(code.strip().upper(), []).append(pair)
    return out


def adjusted(bars: list[Bar], code: str, spec: str) -> list[Bar]:
    """`bars` with every adjustment of `code` in `spec` applied to the bars before its date."""
    if not spec:
        return bars
    out = bars
    for ex_date, ratio in parse_adjustments(spec).get(code, []):
        def scale(price: int, r: Decimal = ratio) -> int:
            return max(int((price * r).to_integral_value()), 1)

        out = [b._replace(open=scale(b.open), high=scale(b.high), low=scale(b.low),
                          close=scale(b.close),
                          volume=int((b.volume / ratio).to_integral_value()),
                          value=b.value) if b.day < ex_date else b for b in out]
    return out
