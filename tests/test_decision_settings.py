"""Decision settings: defaults, environment overrides, clear errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from quartz_cli.config import load_config
from quartz_cli.decision_settings import EngineChoice, load_decision_settings
from quartz_cli.errors import ConfigError


def test_defaults_and_constraints_from_the_configmap_keys():
    cfg = load_config(environ={"MIN_ORDER_KRW": "50000", "MAX_SINGLE_TICKER_WEIGHT": "0.1"})
    ds = load_decision_settings({})
    c = ds.constraints(cfg)
    assert c.min_order_krw == 50_000 and c.max_single_ticker_weight == Decimal("0.1")
    assert c.max_turnover_ratio == Decimal("0.3") and c.max_buy_candidates == 3
    assert ds.engine is EngineChoice.AUTO and ds.openai_model == "gpt-4o-mini"
    assert ds.exit_rules().stop_loss_pct == Decimal("-5")


def test_overrides_and_errors():
    ds = load_decision_settings({"QUARTZ_SELL_TAX_RATE": "0.0018",
                                 "QUARTZ_DECISION_ENGINE": "rules",
                                 "QUARTZ_LLM_BUDGET_DAY_USD": "2.5"})
    assert ds.sell_tax_rate == Decimal("0.0018") and ds.budget().per_day_usd == 2.5
    with pytest.raises(ConfigError, match="QUARTZ_STOP_LOSS_PCT"):
        load_decision_settings({"QUARTZ_STOP_LOSS_PCT": "5"})
    with pytest.raises(ConfigError, match="QUARTZ_DECISION_ENGINE"):
        load_decision_settings({"QUARTZ_DECISION_ENGINE": "magic"})
