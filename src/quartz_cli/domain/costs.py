"""What a KRX cash trade costs: the broker's commission on each side and the securities
transaction tax on sells, by the trade's settlement date (the tax is levied at settlement).

One table for every user: the simulator charges these to its accounts, and a backtest reads
the same rates. The tax rates are the combined rates (transaction tax plus the special rural
development tax where it applies) that KRX applied to a listed share's sale; the commission
is an assumption (KIS's online rate is about 0.015 % per side; paper accounts are charged a
similar rate), see docs/external-apis.md."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_FLOOR, Decimal

# Commission per side, on the traded amount.
COMMISSION_RATE = Decimal("0.00015")

# (first settlement date the rate applies to, rate on the sale amount), oldest first.
SELL_TAX_SCHEDULE: tuple[tuple[date, Decimal], ...] = (
    (date(2023, 1, 1), Decimal("0.0020")),
    (date(2024, 1, 1), Decimal("0.0018")),
    (date(2025, 1, 1), Decimal("0.0015")),
    (date(2026, 1, 1), Decimal("0.0020")),
)

# Settlement: T+2 sessions for KRX cash equities.
SETTLEMENT_SESSIONS = 2


def _floor_won(amount: Decimal) -> int:
    # Brokers and the tax authority drop fractions of a won.
    return int(amount.to_integral_value(rounding=ROUND_FLOOR))


def sell_tax_rate(settles_on: date) -> Decimal:
    """The sell tax rate for a sale settling on `settles_on` (the earliest rate before 2023)."""
    rate = SELL_TAX_SCHEDULE[0][1]
    for since, value in SELL_TAX_SCHEDULE:
        if settles_on >= since:
            rate = value
    return rate


def commission(amount: int) -> int:
    """The broker's commission on one side's traded amount, in whole won (rounded down)."""
    return _floor_won(Decimal(amount) * COMMISSION_RATE)


def sell_tax(amount: int, settles_on: date) -> int:
    """The securities transaction tax on a sale of `amount` won settling on `settles_on`."""
    return _floor_won(Decimal(amount) * sell_tax_rate(settles_on))
