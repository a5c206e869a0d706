"""Settings of the portfolio manager (`QUARTZ_` keys), next to the ConfigMap's
MIN_ORDER_KRW / MAX_SINGLE_TICKER_WEIGHT / MAX_TURNOVER_RATIO read by `quartz_cli.config`.

| key | default | meaning |
|---|---|---|
| QUARTZ_MAX_BUY_CANDIDATES | 3 | most buy orders per run |
| QUARTZ_BUY_FEE_RATE | 0.00015 | broker fee on buys (fraction) |
| QUARTZ_SELL_FEE_RATE | 0.00015 | broker fee on sells |
| QUARTZ_SELL_TAX_RATE | 0.0020 | securities transaction tax on sells |
| QUARTZ_DECISION_ENGINE | auto | auto (OpenAI in paper/prod when GPT_API_KEY is set, else rules), rules, openai |
| QUARTZ_OPENAI_MODEL | gpt-4o-mini | model with structured-output support |
| QUARTZ_OPENAI_BASE_URL | (OpenAI) | another endpoint, `/v1` included |
| QUARTZ_LLM_TIMEOUT_S | 30 | per call |
| QUARTZ_LLM_BUDGET_RUN_USD | 0.05 | most a run may spend on the LLM |
| QUARTZ_LLM_BUDGET_DAY_USD | 1.00 | most all runs of a KST day may spend |
| QUARTZ_STOP_LOSS_PCT | -5 | rebalance: sell at or below this P&L % |
| QUARTZ_TAKE_PROFIT_PCT | 15 | rebalance: sell at or above this P&L % |
| QUARTZ_INPUT_MAX_AGE_H | 36 | candidates/technical older than this are stale (macro: QUARTZ_MACRO_MAX_AGE_H) |
"""

from __future__ import annotations

import os
from decimal import Decimal
from enum import Enum

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from quartz_cli.config import Config
from quartz_cli.domain.budget import LLMBudget
from quartz_cli.domain.decision import Constraints
from quartz_cli.domain.exits import ExitRules
from quartz_cli.errors import ConfigError


class EngineChoice(str, Enum):
    AUTO = "auto"
    RULES = "rules"
    OPENAI = "openai"


class DecisionSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=True, populate_by_name=True)

    max_buy_candidates: int = Field(default=3, ge=0, le=20,
                                    validation_alias="QUARTZ_MAX_BUY_CANDIDATES")
    buy_fee_rate: Decimal = Field(default=Decimal("0.00015"), ge=0, lt=Decimal("0.05"),
                                  validation_alias="QUARTZ_BUY_FEE_RATE")
    sell_fee_rate: Decimal = Field(default=Decimal("0.00015"), ge=0, lt=Decimal("0.05"),
                                   validation_alias="QUARTZ_SELL_FEE_RATE")
    sell_tax_rate: Decimal = Field(default=Decimal("0.0020"), ge=0, lt=Decimal("0.05"),
                                   validation_alias="QUARTZ_SELL_TAX_RATE")
    engine: EngineChoice = Field(default=EngineChoice.AUTO, validation_alias="QUARTZ_DECISION_ENGINE")
    openai_model: str = Field(default="gpt-4o-mini", min_length=1,
                              validation_alias="QUARTZ_OPENAI_MODEL")
    openai_base_url: str | None = Field(default=None, validation_alias="QUARTZ_OPENAI_BASE_URL")
    llm_timeout_s: float = Field(default=30.0, gt=0, validation_alias="QUARTZ_LLM_TIMEOUT_S")
    llm_budget_run_usd: float = Field(default=0.05, ge=0,
                                      validation_alias="QUARTZ_LLM_BUDGET_RUN_USD")
    llm_budget_day_usd: float = Field(default=1.0, ge=0,
                                      validation_alias="QUARTZ_LLM_BUDGET_DAY_USD")
    stop_loss_pct: Decimal = Field(default=Decimal("-5"), lt=0,
                                   validation_alias="QUARTZ_STOP_LOSS_PCT")
    take_profit_pct: Decimal = Field(default=Decimal("15"), gt=0,
                                     validation_alias="QUARTZ_TAKE_PROFIT_PCT")
    input_max_age_h: float = Field(default=36.0, gt=0, validation_alias="QUARTZ_INPUT_MAX_AGE_H")

    def constraints(self, config: Config) -> Constraints:
        """The gate's constraints: ConfigMap limits plus these fee rates."""
        s = config.settings
        return Constraints(
            max_buy_candidates=self.max_buy_candidates,
            max_single_ticker_weight=Decimal(str(s.max_single_ticker_weight)),
            min_order_krw=s.min_order_krw,
            max_turnover_ratio=Decimal(str(s.max_turnover_ratio)),
            buy_fee_rate=self.buy_fee_rate,
            sell_fee_rate=self.sell_fee_rate,
            sell_tax_rate=self.sell_tax_rate,
        )

    def budget(self) -> LLMBudget:
        return LLMBudget(per_run_usd=self.llm_budget_run_usd, per_day_usd=self.llm_budget_day_usd)

    def exit_rules(self) -> ExitRules:
        return ExitRules(stop_loss_pct=self.stop_loss_pct, take_profit_pct=self.take_profit_pct)


def load_decision_settings(environ: dict[str, str] | None = None) -> DecisionSettings:
    """Read the QUARTZ_ decision keys; ConfigError naming each bad one."""
    source = dict(os.environ if environ is None else environ)
    known = {f.validation_alias for f in DecisionSettings.model_fields.values()}
    try:
        return DecisionSettings(**{k: v for k, v in source.items() if k in known})
    except ValidationError as err:
        parts = [f"{(e.get('loc') or ('?',))[0]}: {e.get('msg')}" for e in err.errors()]
        raise ConfigError(f"invalid configuration: {'; '.join(parts)}") from None
