"""The simulator's knobs. Defaults follow KIS's documented behaviour."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any

from quartz_cli.errors import ConfigError

LIMITS = ("real", "paper")
BAR_DATINGS = ("first", "last")
KEY_CASES = ("upper", "lower")
CANCEL_REPORTS = ("both", "cancel_row")


@dataclass(frozen=True)
class SimConfig:
    """Behaviour of the simulated broker. Each field can be set from the environment as
    `QUARTZ_SIM_<FIELD>` (e.g. `QUARTZ_SIM_RATE_LIMIT_PER_S=0` turns throttling off)."""

    # REST calls per second per app key; 0 turns the limit off. KIS real accounts: 18/s.
    rate_limit_per_s: float = 18.0
    # Which account's limit the paper protocol (V… TR_IDs) gets: "real" (the default, so
    # `local` runs fast) or "paper", KIS's paper-account limit below (docs/external-apis.md).
    limits: str = "real"
    # KIS paper accounts: 1 REST call/s per app key (KIS notice of 2026-04-20; it was 2/s).
    paper_rate_limit_per_s: float = 1.0
    # Minimum seconds between token issuances per app key (EGW00133 inside it).
    token_issue_interval_s: float = 60.0
    # Token lifetime, and the window in which a re-request returns the same token.
    token_ttl_s: float = 86_400.0
    same_token_window_s: float = 6 * 3600.0
    # Accept real (T…) TR_IDs instead of paper (V…) ones.
    real_tr_ids: bool = False
    # Orders and accounts (sim/exchange.py): starting cash of a new account, and how far
    # market orders fill from the current price (basis points, against the orderer).
    starting_cash: float = 100_000_000
    slippage_bps: float = 0.0
    # Fault injection on the trading endpoints (sim/faults.py). Rates are probabilities per
    # call; latency is a uniform random delay up to `latency_ms`; a rate-limit burst refuses
    # every call with EGW00201 for `rate_limit_burst_s`; a dropped response is booked by the
    # exchange but the caller sees its connection fail. `fault_seed` 0 = unseeded.
    latency_ms: float = 0.0
    error_5xx_rate: float = 0.0
    rate_limit_burst_rate: float = 0.0
    rate_limit_burst_s: float = 0.3
    drop_response_rate: float = 0.0
    fault_seed: float = 0.0
    # Sample-market events, `CODE:YYYY-MM-DD[..YYYY-MM-DD]` joined by `;` (sim/market.py):
    # trading halts (flat zero-volume bars) and sessions missing from the chart answers.
    halts: str = ""
    missing_bars: str = ""
    # How week/month/year chart bars are dated: by the "first" session they cover or the
    # "last" (KIS's choice is unconfirmed; the client must page right under either).
    bar_dating: str = "first"
    # Letter case of the order answers' output keys: "upper" as in KIS's examples, or
    # "lower" as in one of its samples' column maps (the client must read either).
    order_output_case: str = "upper"
    # How a cancel shows in the daily-orders inquiry: on "both" the original row (confirmed
    # cancel quantity, nothing remaining) and a cancel row, or on the "cancel_row" only
    # (unconfirmed which KIS does; the client must reconcile either way).
    cancel_report: str = "both"
    # Price adjustments served by the chart, `CODE:YYYY-MM-DD:RATIO` joined by `;`
    # (sim/adjustments.py): bars before the date scaled by the ratio, as after a split.
    adjustments: str = ""
    # Real-time order notices (sim/realtime.py): seconds between PINGPONG frames, and the
    # field count of each notice record (26 is KIS's current layout; tests set another to
    # drill a layout change).
    pingpong_s: float = 100.0
    notice_fields: float = 26
    # Tradable common stocks in the simulated master files (sim/master_files.py), the
    # bundled listings included: the whole KRX is about 2,800. The market serves each.
    listings: float = 2800

    def __post_init__(self) -> None:
        for name, choices in (("limits", LIMITS), ("bar_dating", BAR_DATINGS),
                              ("order_output_case", KEY_CASES),
                              ("cancel_report", CANCEL_REPORTS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"QUARTZ_SIM_{name.upper()}: simulator {name} "
                                 f"{getattr(self, name)!r}: choose {' or '.join(choices)}")

    def rest_limit_per_s(self) -> float:
        """The per-app-key REST limit this simulator enforces: the paper account's when it
        speaks the paper protocol with `limits="paper"`, else the real account's."""
        if self.limits == "paper" and not self.real_tr_ids and self.rate_limit_per_s > 0:
            return self.paper_rate_limit_per_s
        return self.rate_limit_per_s

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SimConfig:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"QUARTZ_SIM_{f.name.upper()}")
            if raw is None:
                continue
            if f.type in (bool, "bool"):
                values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
            elif f.type in (str, "str"):
                values[f.name] = raw.strip()
            else:
                values[f.name] = float(raw)
        try:
            return replace(cls(), **values)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
