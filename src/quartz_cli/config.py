"""The one settings tree: every setting Quartz reads, from the environment, a config file, or
its default.

Keys are the environment variables' names, fixed by the cluster's ConfigMap/Secret and the
`QUARTZ_` project keys; the tree groups them into sections (`config.settings.broker.app_key` is
`HANSEC_INVESTMENT_APP_KEY`). Precedence, per key: environment, then the config file, then the
default. The file is TOML, one flat table keyed by the same names as the environment:
`$QUARTZ_HOME/config.toml` if it exists, or the file named by `--config` / `QUARTZ_CONFIG`,
which must exist.

The tree is plain pydantic models loaded by `load_settings` rather than pydantic-settings'
own sources: the names are flat (no section prefix or nesting delimiter), every key's origin
is recorded for `quartz doctor`, and tests pass a whole environment as a dict.

Environment resolution, first match wins: the CLI's `--env`, `QUARTZ_ENV`, `IS_PRODUCTION=true`
(→ prod), else `local`. `local` needs nothing; `paper` and `prod` need the broker keys and fail
with a message naming each missing variable, never falling back to another environment.
"""

from __future__ import annotations

import difflib
import logging
import os
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from quartz_cli.domain.budget import LLMBudget
from quartz_cli.domain.decision import Constraints
from quartz_cli.domain.exits import ExitRules
from quartz_cli.errors import ConfigError
from quartz_cli.redaction import register_account, register_secret

log = logging.getLogger(__name__)


class Env(str, Enum):
    """Where orders go: the local simulator, the KIS paper account, or real money."""

    LOCAL = "local"
    PAPER = "paper"
    PROD = "prod"


class EngineChoice(str, Enum):
    """Who proposes trades: OpenAI when configured (auto), always the rules, or OpenAI."""

    AUTO = "auto"
    RULES = "rules"
    OPENAI = "openai"


class NoticeChoice(str, Enum):
    """Real-time fill notices: on where the broker offers them (auto), always, or never."""

    AUTO = "auto"
    ON = "on"
    OFF = "off"


class Source(str, Enum):
    """Where a setting's value came from."""

    DEFAULT = "default"
    FILE = "file"
    ENVIRONMENT = "environment"


NEWS_SOURCE_NAMES = ("naver", "hankyung", "maeil")


def _key(name: str, default: Any = None, description: str = "", **constraints: Any) -> Any:
    """A setting: its environment name (the alias), default and one-line meaning."""
    return Field(default=default, validation_alias=name, description=description, **constraints)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


def _decimal_text(v: object) -> object:
    # A TOML float becomes its shortest decimal text, not binary noise.
    return Decimal(str(v)) if isinstance(v, float) else v


class GeneralSettings(_Section):
    """Which environment, where state lives, and the simulated market clock."""

    env_name: Env | None = _key("QUARTZ_ENV", None,
                                "environment: local, paper or prod (overrides IS_PRODUCTION)")
    is_production: bool = _key("IS_PRODUCTION", False, "ConfigMap: true selects prod")
    home: Path = Field(default_factory=lambda: Path.home() / ".quartz",
                       validation_alias="QUARTZ_HOME",
                       description="state: token cache, ledger, local store, config.toml")
    # Simulation only: the market clock starts at this moment when the process starts and
    # runs on from there, so `local` can be exercised inside a KRX session at any hour.
    market_time: datetime | None = _key("QUARTZ_MARKET_TIME", None,
                                        "local only: the market clock starts at this moment")

    @field_validator("market_time")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("must carry a UTC offset, e.g. 2026-11-24T10:00:00+09:00")
        return v


class BrokerSettings(_Section):
    """The KIS account, endpoint, rate limit and the real-money opt-in."""

    app_key: SecretStr | None = _key("HANSEC_INVESTMENT_APP_KEY", None, "Secret: KIS app key")
    app_secret: SecretStr | None = _key("HANSEC_INVESTMENT_APP_SECRET_KEY", None,
                                        "Secret: KIS app secret")
    cano: SecretStr | None = _key("HANSEC_INVESTMENT_CANO", None,
                                  "Secret: account, 8 digits (+ 2-digit product code)")
    account_product: str = _key("QUARTZ_ACCOUNT_PRODUCT", "01",
                                "product code when the account has 8 digits")
    kis_base_url: str | None = _key("QUARTZ_KIS_BASE_URL", None,
                                    "another KIS domain (e.g. `quartz sim serve`)")
    rate_share: float = _key("QUARTZ_RATE_SHARE", 1.0,
                             "this process's share of the account's REST limit", gt=0, le=1)
    rate_limit_per_s: float | None = _key("QUARTZ_RATE_LIMIT_PER_S", None,
                                          "the account's REST calls per second", gt=0)
    http_timeout_s: float = _key("QUARTZ_HTTP_TIMEOUT_S", 10.0, "HTTP timeout, seconds", gt=0)
    live_trading: bool = _key("QUARTZ_LIVE_TRADING", False, "prod only: allow real orders")
    hts_id: SecretStr | None = _key("QUARTZ_KIS_HTS_ID", None,
                                    "Secret: KIS HTS ID (login ID), the key of fill notices")
    kis_ws_url: str | None = _key("QUARTZ_KIS_WS_URL", None,
                                  "another KIS WebSocket base (e.g. `quartz sim serve`)")
    fill_notices: NoticeChoice = _key("QUARTZ_FILL_NOTICES", NoticeChoice.AUTO,
                                      "real-time fills over KIS's WebSocket: auto (with an "
                                      "HTS ID and a WebSocket URL), on, off")

    @field_validator("cano")
    @classmethod
    def _cano_digits(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return v
        digits = v.get_secret_value().replace("-", "")
        if not digits.isdigit() or len(digits) not in (8, 10):
            # The value itself is never echoed: it is an account number.
            raise ValueError("must be 8 digits (CANO) or 10 digits (CANO + product code)")
        return v


class StoreSettings(_Section):
    """Where agents' documents live (S3 or a local folder) and when they are stale."""

    s3_bucket_name: str | None = _key("S3_BUCKET_NAME", None,
                                      "ConfigMap: S3 bucket (paper/prod; else a local folder)")
    aws_region: str = _key("AWS_REGION", "ap-northeast-2", "ConfigMap: S3 region")
    aws_access_key_id: SecretStr | None = _key("AWS_ACCESS_KEY_ID", None, "Secret: S3 key id")
    aws_secret_access_key: SecretStr | None = _key("AWS_SECRET_ACCESS_KEY", None,
                                                   "Secret: S3 secret key")
    s3_endpoint_url: str | None = _key("QUARTZ_S3_ENDPOINT_URL", None,
                                       "another S3-compatible endpoint")
    store_dir: Path | None = _key("QUARTZ_STORE_DIR", None,
                                  "local store folder (default $QUARTZ_HOME/store/<env>)")
    input_max_age_h: float = _key("QUARTZ_INPUT_MAX_AGE_H", 36.0,
                                  "candidates/technical older than this are stale", gt=0)
    technical_keep_days: float = _key("QUARTZ_TECHNICAL_KEEP_DAYS", 30.0,
                                      "dated technical documents older than this are deleted "
                                      "by `quartz data pull` (each ticker's newest is kept)",
                                      gt=0)


class ConstraintSettings(_Section):
    """The risk gate's limits and the fees it charges."""

    min_order_krw: int = _key("MIN_ORDER_KRW", 100_000, "ConfigMap: smallest order, KRW", ge=0)
    max_single_ticker_weight: float = _key("MAX_SINGLE_TICKER_WEIGHT", 0.2,
                                           "ConfigMap: most of the portfolio in one ticker",
                                           gt=0, le=1)
    max_turnover_ratio: float = _key("MAX_TURNOVER_RATIO", 0.3,
                                     "ConfigMap: most of the start-of-day value traded "
                                     "per KRX trading day",
                                     gt=0, le=1)
    max_buy_candidates: int = _key("QUARTZ_MAX_BUY_CANDIDATES", 3, "most buy orders per run",
                                   ge=0, le=20)
    buy_fee_rate: Decimal = _key("QUARTZ_BUY_FEE_RATE", Decimal("0.00015"),
                                 "broker fee on buys (fraction)", ge=0, lt=Decimal("0.05"))
    sell_fee_rate: Decimal = _key("QUARTZ_SELL_FEE_RATE", Decimal("0.00015"),
                                  "broker fee on sells (fraction)", ge=0, lt=Decimal("0.05"))
    sell_tax_rate: Decimal = _key("QUARTZ_SELL_TAX_RATE", Decimal("0.0020"),
                                  "transaction tax on sells (fraction)", ge=0,
                                  lt=Decimal("0.05"))

    @field_validator("buy_fee_rate", "sell_fee_rate", "sell_tax_rate", mode="before")
    @classmethod
    def _decimal(cls, v: object) -> object:
        return _decimal_text(v)


class ExitSettings(_Section):
    """Stop-loss and take-profit: rules, not LLM opinions."""

    stop_loss_pct: Decimal = _key("QUARTZ_STOP_LOSS_PCT", Decimal("-5"),
                                  "sell at or below this P&L %", lt=0)
    take_profit_pct: Decimal = _key("QUARTZ_TAKE_PROFIT_PCT", Decimal("15"),
                                    "sell at or above this P&L %", gt=0)
    daily_loss_limit_pct: Decimal = _key("QUARTZ_DAILY_LOSS_LIMIT_PCT", Decimal("3"),
                                         "reduce-only once the account is this % below its "
                                         "start-of-day value", gt=0, le=100)

    @field_validator("stop_loss_pct", "take_profit_pct", "daily_loss_limit_pct", mode="before")
    @classmethod
    def _decimal(cls, v: object) -> object:
        return _decimal_text(v)


class LLMSettings(_Section):
    """The LLM roles: keys, models, endpoints, the decision engine and the spending limits."""

    gpt_api_key: SecretStr | None = _key("GPT_API_KEY", None, "Secret: OpenAI key (decisions)")
    gemini_api_key: SecretStr | None = _key("GEMINI_API_KEY", None,
                                            "Secret: Gemini key (macro report, sentiment)")
    decision_engine: EngineChoice = _key("QUARTZ_DECISION_ENGINE", EngineChoice.AUTO,
                                         "auto (OpenAI with a key outside local), rules, openai")
    openai_model: str = _key("QUARTZ_OPENAI_MODEL", "gpt-4o-mini",
                             "model with structured outputs", min_length=1)
    openai_base_url: str | None = _key("QUARTZ_OPENAI_BASE_URL", None,
                                       "another OpenAI endpoint, /v1 included")
    gemini_model: str = _key("QUARTZ_GEMINI_MODEL", "gemini-2.5-flash", "Gemini model")
    gemini_base_url: str | None = _key("QUARTZ_GEMINI_BASE_URL", None, "another Gemini endpoint")
    timeout_s: float = _key("QUARTZ_LLM_TIMEOUT_S", 30.0, "per decision call, seconds", gt=0)
    budget_run_usd: float = _key("QUARTZ_LLM_BUDGET_RUN_USD", 0.05,
                                 "most a run may spend on the LLM", ge=0)
    budget_day_usd: float = _key("QUARTZ_LLM_BUDGET_DAY_USD", 1.0,
                                 "most all runs of a KST day may spend", ge=0)


class MacroSettings(_Section):
    """The macro agent's data sources and how old its report may be."""

    ecos_api_key: SecretStr | None = _key("ECOS_API_KEY", None, "Secret: Bank of Korea ECOS key")
    fred_api_key: SecretStr | None = _key("FRED_API_KEY", None, "Secret: FRED key")
    ecos_base_url: str | None = _key("QUARTZ_ECOS_BASE_URL", None, "another ECOS endpoint")
    fred_base_url: str | None = _key("QUARTZ_FRED_BASE_URL", None, "another FRED endpoint")
    worldbank_base_url: str | None = _key("QUARTZ_WORLDBANK_BASE_URL", None,
                                          "another World Bank endpoint")
    max_age_h: float = _key("QUARTZ_MACRO_MAX_AGE_H", 24.0,
                            "an older macro report counts as missing", gt=0)
    # Local only: comma-separated sources whose fake endpoint answers with errors.
    fake_fail: str = _key("QUARTZ_MACRO_FAKE_FAIL", "",
                          "local only: sources whose fakes fail (ecos,fred,worldbank)")


class NewsSettings(_Section):
    """The selection agent's news crawl."""

    sources: str = _key("QUARTZ_NEWS_SOURCES", ",".join(NEWS_SOURCE_NAMES),
                        "news sites, in de-duplication priority order")
    delay_s: float = _key("QUARTZ_NEWS_DELAY_S", 1.0, "pause between requests to one host",
                          ge=0)
    # One host serving every site's paths (a caching mirror, or a test's loopback server).
    base_url: str | None = _key("QUARTZ_NEWS_BASE_URL", None,
                                "read every site's paths from one host")

    def source_names(self) -> list[str]:
        """The configured sources; ConfigError naming an unknown one."""
        names = [n.strip() for n in self.sources.split(",") if n.strip()]
        unknown = [n for n in names if n not in NEWS_SOURCE_NAMES]
        if unknown or not names:
            raise ConfigError(f"QUARTZ_NEWS_SOURCES: unknown source(s) {', '.join(unknown)}",
                              hint=f"choose from {', '.join(NEWS_SOURCE_NAMES)}")
        return names


class UniverseSettings(_Section):
    """Which listings decide analyses and `quartz data pull` keeps, and where the listings
    come from."""

    choice: str = _key("QUARTZ_UNIVERSE", "candidates",
                       "what decide analyses besides holdings: candidates (the selection's), "
                       "all (every listing), or an index: KOSPI200, KOSPI100, KOSPI50, "
                       "KOSDAQ150 (as KIS's master files flag them)")
    master_url: str | None = _key("QUARTZ_KIS_MASTER_URL", None,
                                  "KIS's master-file download host for `quartz select "
                                  "universe` (default KIS's; in local, the simulator)")


class ServerSettings(_Section):
    """The trading agent's address and the bearer token between pods.

    The four `*_AGENT_URL` keys are the seed design's names, kept in the ConfigMap for
    compatibility: agents share state through the store, so nothing calls those services.
    They are read and shown by `quartz doctor`, and used nowhere else."""

    internal_token: SecretStr | None = _key("QUARTZ_INTERNAL_TOKEN", None,
                                            "Secret: bearer token between pods")
    trading_agent_ws_url: str | None = _key("TRADING_AGENT_WS_URL", None,
                                            "ConfigMap: the trading agent (else in-process)")
    auth_agent_url: str | None = _key("AUTH_AGENT_URL", None, "ConfigMap: seed name, unused")
    macro_agent_url: str | None = _key("MACRO_AGENT_URL", None, "ConfigMap: seed name, unused")
    ticker_selector_url: str | None = _key("TICKER_SELECTOR_URL", None,
                                           "ConfigMap: seed name, unused")
    technical_agent_url: str | None = _key("TECHNICAL_AGENT_URL", None,
                                           "ConfigMap: seed name, unused")


DEFAULT_NOTIFY_EVENTS = ("order.filled,order.partially_filled,order.rejected,order.refused,"
                         "order.unknown,order.expired,exit.*,trading.state_changed,"
                         "job.failed,token.failed,data.stale")


class NotifySettings(_Section):
    """Notifications of the account's events (docs/operations.md): Telegram, Slack, a JSON
    webhook. A channel is on when its address is set; each names the event types it sends
    (`order.filled`, a prefix `exit.*`, `job.failed` for jobs that exited non-zero) and its
    language (ko or en)."""

    telegram_bot_token: SecretStr | None = _key("QUARTZ_NOTIFY_TELEGRAM_BOT_TOKEN", None,
                                                "Secret: Telegram bot token (sendMessage)")
    telegram_chat_id: str | None = _key("QUARTZ_NOTIFY_TELEGRAM_CHAT_ID", None,
                                        "Telegram chat the bot posts to")
    telegram_api_url: str = _key("QUARTZ_NOTIFY_TELEGRAM_API_URL", "https://api.telegram.org",
                                 "Telegram Bot API base URL")
    telegram_events: str = _key("QUARTZ_NOTIFY_TELEGRAM_EVENTS", DEFAULT_NOTIFY_EVENTS,
                                "event types Telegram gets (comma-separated)")
    telegram_lang: str = _key("QUARTZ_NOTIFY_TELEGRAM_LANG", "ko", "Telegram language: ko, en",
                              pattern="^(ko|en)$")
    slack_webhook_url: SecretStr | None = _key("QUARTZ_NOTIFY_SLACK_WEBHOOK_URL", None,
                                               "Secret: Slack incoming-webhook URL")
    slack_events: str = _key("QUARTZ_NOTIFY_SLACK_EVENTS", DEFAULT_NOTIFY_EVENTS,
                             "event types Slack gets (comma-separated)")
    slack_lang: str = _key("QUARTZ_NOTIFY_SLACK_LANG", "ko", "Slack language: ko, en",
                           pattern="^(ko|en)$")
    webhook_url: SecretStr | None = _key("QUARTZ_NOTIFY_WEBHOOK_URL", None,
                                         "Secret: generic JSON webhook URL (POST)")
    webhook_events: str = _key("QUARTZ_NOTIFY_WEBHOOK_EVENTS", DEFAULT_NOTIFY_EVENTS,
                               "event types the webhook gets (comma-separated)")
    webhook_lang: str = _key("QUARTZ_NOTIFY_WEBHOOK_LANG", "en", "webhook text language: ko, en",
                             pattern="^(ko|en)$")
    backlog_limit: int = _key("QUARTZ_NOTIFY_BACKLOG_LIMIT", 200, "most undelivered events "
                              "a channel catches up on; older ones are skipped, and said so",
                              ge=1)
    poll_s: float = _key("QUARTZ_NOTIFY_POLL_S", 2.0, "seconds between event-log reads",
                         gt=0)


class DashboardSettings(_Section):
    """The web dashboard served by `quartz serve`: who may log in, for how long, and from
    which other origins (none unless named)."""

    operator_token: SecretStr | None = _key(
        "QUARTZ_DASHBOARD_OPERATOR_TOKEN", None,
        "Secret: logs in as operator (halt/resume); default QUARTZ_INTERNAL_TOKEN")
    viewer_token: SecretStr | None = _key("QUARTZ_DASHBOARD_VIEWER_TOKEN", None,
                                          "Secret: logs in read-only (unset: no viewer login)")
    session_hours: float = _key("QUARTZ_DASHBOARD_SESSION_HOURS", 12.0,
                                "Hours a dashboard login lasts", gt=0, le=24 * 7)
    cors_origins: str = _key("QUARTZ_DASHBOARD_CORS_ORIGINS", "",
                             "Comma-separated origins allowed cross-origin (default none)")
    bundle_dir: str | None = _key("QUARTZ_DASHBOARD_BUNDLE", None,
                                  "Built front-end folder (default: the package's web/dist)")
    stream_seconds: float = _key("QUARTZ_DASHBOARD_STREAM_SECONDS", 300.0,
                                 "Seconds one live-event stream lasts before the page "
                                 "reconnects (and resumes from its last event)", gt=0,
                                 le=3600)


class Settings(BaseModel):
    """Every setting Quartz reads, by section. Build it with `load_settings`."""

    model_config = ConfigDict(frozen=True)

    general: GeneralSettings = Field(default_factory=GeneralSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    constraints: ConstraintSettings = Field(default_factory=ConstraintSettings)
    exits: ExitSettings = Field(default_factory=ExitSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    macro: MacroSettings = Field(default_factory=MacroSettings)
    news: NewsSettings = Field(default_factory=NewsSettings)
    universe: UniverseSettings = Field(default_factory=UniverseSettings)
    servers: ServerSettings = Field(default_factory=ServerSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)

    def value(self, spec: SettingSpec) -> Any:
        """The value of one setting of the tree."""
        return getattr(getattr(self, spec.section), spec.name)


@dataclass(frozen=True)
class SettingSpec:
    """One setting of the tree: where it sits, its key (the environment name), its meaning."""

    section: str
    name: str
    key: str
    secret: bool
    description: str


def setting_specs() -> list[SettingSpec]:
    """Every setting of the tree, section by section."""
    out = []
    for section, holder in Settings.model_fields.items():
        model = holder.annotation
        assert isinstance(model, type) and issubclass(model, _Section)
        for name, info in model.model_fields.items():
            assert isinstance(info.validation_alias, str)
            secret = info.annotation is SecretStr or SecretStr in get_args(info.annotation)
            out.append(SettingSpec(section, name, info.validation_alias, secret,
                                   info.description or ""))
    return out


_SPECS = setting_specs()
_BY_KEY = {spec.key: spec for spec in _SPECS}


def known_keys() -> set[str]:
    """Every key a config file or the environment may set."""
    return set(_BY_KEY)


@dataclass(frozen=True)
class Account:
    """A KIS account: 8-digit CANO and 2-digit product code (01 = stock account)."""

    cano: str
    product: str


@dataclass(frozen=True)
class Config:
    """Resolved configuration: the settings tree, each key's source and the environment."""

    settings: Settings
    env: Env
    sources: Mapping[str, Source] = field(default_factory=dict)
    # The config file considered (default or named) and whether it was read.
    config_file: Path | None = None
    config_file_read: bool = False

    @property
    def home(self) -> Path:
        return self.settings.general.home

    def source(self, key: str) -> Source:
        """Where the value of `key` (an environment name) came from."""
        return self.sources.get(key, Source.DEFAULT)

    def market_now(self) -> datetime:
        """Now, for market decisions: the wall clock, or the simulated clock in `local`."""
        start = self.settings.general.market_time
        if start is not None and self.env is Env.LOCAL:
            return market_clock(start)()
        return datetime.now(UTC)

    def require(self, *paths: str) -> None:
        """Raise ConfigError naming every listed setting (`section.name`) that is unset or
        empty (an empty Secret key is as unusable as a missing one)."""
        missing, empty = [], []
        for path in paths:
            section, name = path.split(".")
            value = getattr(getattr(self.settings, section), name)
            model = type(getattr(self.settings, section))
            alias = str(model.model_fields[name].validation_alias)
            if value is None:
                missing.append(alias)
            elif isinstance(value, SecretStr) and not value.get_secret_value().strip():
                empty.append(alias)
        if missing or empty:
            needs = [f"{', '.join(missing)}" if missing else "",
                     f"a value in {', '.join(empty)} (set but empty)" if empty else ""]
            raise ConfigError(
                f"environment '{self.env.value}' needs {' and '.join(n for n in needs if n)}",
                hint="set them in the environment (the cluster's Secret quartz-secrets) "
                     "or in the config file",
            )

    def broker_credentials(self) -> tuple[str, str]:
        """(app key, app secret) for this environment; the simulator's own pair in local."""
        if self.env is Env.LOCAL:
            return LOCAL_APP_KEY, LOCAL_APP_SECRET
        self.require("broker.app_key", "broker.app_secret")
        b = self.settings.broker
        if b.app_key is None or b.app_secret is None:
            raise ConfigError("the KIS app key and secret are required")  # for the type checker
        return b.app_key.get_secret_value(), b.app_secret.get_secret_value()

    def account(self) -> Account:
        """The trading account; the simulator's paper account in local."""
        b = self.settings.broker
        if self.env is Env.LOCAL and b.cano is None:
            return Account(LOCAL_CANO, "01")
        self.require("broker.cano")
        assert b.cano is not None
        digits = b.cano.get_secret_value().replace("-", "")
        if len(digits) == 10:
            return Account(digits[:8], digits[8:])
        return Account(digits, b.account_product)

    def constraints(self) -> Constraints:
        """The risk gate's constraints: the ConfigMap limits plus the fee and tax rates."""
        c = self.settings.constraints
        return Constraints(
            max_buy_candidates=c.max_buy_candidates,
            max_single_ticker_weight=Decimal(str(c.max_single_ticker_weight)),
            min_order_krw=c.min_order_krw,
            max_turnover_ratio=Decimal(str(c.max_turnover_ratio)),
            buy_fee_rate=c.buy_fee_rate,
            sell_fee_rate=c.sell_fee_rate,
            sell_tax_rate=c.sell_tax_rate,
        )

    def llm_budget(self) -> LLMBudget:
        """The LLM spending limits per run and per KST day."""
        s = self.settings.llm
        return LLMBudget(per_run_usd=s.budget_run_usd, per_day_usd=s.budget_day_usd)

    def exit_rules(self) -> ExitRules:
        """Stop-loss and take-profit thresholds."""
        e = self.settings.exits
        return ExitRules(stop_loss_pct=e.stop_loss_pct, take_profit_pct=e.take_profit_pct)


# The simulator accepts these in `local`; they are not secrets and open nothing real.
LOCAL_APP_KEY = "PSlocalSimAppKey0000000000000000000"
LOCAL_APP_SECRET = "local-sim-app-secret"
LOCAL_CANO = "50000000"


_PROCESS_START = time.monotonic()


def market_clock(start: datetime) -> Callable[[], datetime]:
    """A clock that reads `start` when the process started and advances in real time."""
    def now() -> datetime:
        return start.astimezone(UTC) + timedelta(seconds=time.monotonic() - _PROCESS_START)
    return now


def config_file_path(environ: Mapping[str, str], explicit: str | Path | None = None
                     ) -> tuple[Path, bool]:
    """(the config file to read, whether it was named explicitly and so must exist):
    `--config`, else `QUARTZ_CONFIG`, else `$QUARTZ_HOME/config.toml` (the environment's
    QUARTZ_HOME, or ~/.quartz)."""
    if explicit:
        return Path(explicit), True
    if environ.get("QUARTZ_CONFIG"):
        return Path(environ["QUARTZ_CONFIG"]), True
    home = Path(environ["QUARTZ_HOME"]) if environ.get("QUARTZ_HOME") else Path.home() / ".quartz"
    return home / "config.toml", False


def read_config_file(path: Path, required: bool) -> dict[str, Any] | None:
    """The file's keys and values, or None when an optional file does not exist. ConfigError
    naming the file for a missing required file, an unreadable or malformed one, a key that
    is not a setting, or a value that is a table or list."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        if not required:
            return None
        raise ConfigError(f"config file {path} does not exist",
                          hint="check --config / QUARTZ_CONFIG") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {path} is not valid TOML: {err}") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from None
    unknown = sorted(k for k in data if k not in _BY_KEY)
    if unknown:
        near = [m for k in unknown for m in difflib.get_close_matches(k, _BY_KEY, n=1)]
        raise ConfigError(
            f"config file {path}: unknown key(s) {', '.join(unknown)}",
            hint=(f"did you mean {', '.join(near)}? " if near else "")
            + "keys are the environment variables' names; `quartz doctor` lists them")
    nested = sorted(k for k, v in data.items() if isinstance(v, (dict, list)))
    if nested:
        raise ConfigError(f"config file {path}: {', '.join(nested)} must be a single value, "
                          "not a table or list")
    if any(_BY_KEY[k].secret for k in data) and _group_or_world_readable(path):
        log.warning("config file %s holds secrets and is readable by other users; "
                    "chmod 600 it", path)
    return data


def _group_or_world_readable(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & 0o077)
    except OSError:
        return False


_SECTIONS: dict[str, type[_Section]] = {
    name: holder.annotation  # type: ignore[misc]
    for name, holder in Settings.model_fields.items()
}


def load_settings(environ: Mapping[str, str], file_values: Mapping[str, Any] | None = None,
                  file: Path | None = None) -> tuple[Settings, dict[str, Source]]:
    """Build the tree from the environment over the file over the defaults; returns it with
    each key's source. Every secret is registered with the redactor before validation (so a
    malformed one is masked too). ConfigError naming each bad key (and the file it came from)."""
    file_values = file_values or {}
    raw: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    sources: dict[str, Source] = {}
    for spec in _SPECS:
        if spec.key in environ:
            value, source = environ[spec.key], Source.ENVIRONMENT
        elif spec.key in file_values:
            value, source = file_values[spec.key], Source.FILE
        else:
            sources[spec.key] = Source.DEFAULT
            continue
        if spec.key == "HANSEC_INVESTMENT_CANO":
            # The broker sends the 8 digits alone (CANO=...): mask every form, not the string.
            register_account(str(value))
        elif spec.secret:
            register_secret(str(value))
        raw[spec.section][spec.key] = value
        sources[spec.key] = source
    problems = []
    sections: dict[str, _Section] = {}
    for name, model in _SECTIONS.items():
        try:
            sections[name] = model.model_validate(raw[name])
        except ValidationError as err:
            for item in err.errors():
                key = str((item.get("loc") or ("?",))[0])
                where = f" (in {file})" if sources.get(key) is Source.FILE else ""
                problems.append(f"{key}{where}: {item.get('msg')}")
    if problems:
        raise ConfigError(f"invalid configuration: {'; '.join(problems)}")
    settings = Settings(**sections)
    for spec in _SPECS:
        value = settings.value(spec)
        if isinstance(value, SecretStr):
            register_secret(value.get_secret_value())
    return settings, sources


def _check_home(home: Path) -> None:
    """ConfigError when QUARTZ_HOME names something that is not a folder (a file, or a path
    through a file): every command keeps its caches, ledger and store under it."""
    for part in (home, *home.parents):
        if part.exists():
            if part.is_dir():
                return
            raise ConfigError(f"QUARTZ_HOME={home}: {part} is a file, not a folder",
                              hint="point QUARTZ_HOME at a folder (it is created if missing; "
                              "default ~/.quartz)")


def load_config(env: Env | str | None = None, environ: Mapping[str, str] | None = None,
                config_file: str | Path | None = None) -> Config:
    """Read the settings (environment over config file over defaults) and resolve which
    environment is in force."""
    source = dict(os.environ if environ is None else environ)
    _check_home(Path(source["QUARTZ_HOME"]) if source.get("QUARTZ_HOME")
                else Path.home() / ".quartz")
    path, required = config_file_path(source, config_file)
    file_values = read_config_file(path, required)
    settings, sources = load_settings(source, file_values, path)
    if env is not None:
        try:
            chosen = Env(env)
        except ValueError:
            raise ConfigError(f"unknown environment '{env}' "
                              "(choose local, paper or prod)") from None
    elif settings.general.env_name is not None:
        chosen = settings.general.env_name
    elif settings.general.is_production:
        chosen = Env.PROD
    else:
        chosen = Env.LOCAL
    if settings.general.market_time is not None and chosen is not Env.LOCAL:
        raise ConfigError("QUARTZ_MARKET_TIME simulates the market clock and is only allowed "
                          f"in local, not in {chosen.value}")
    return Config(settings=settings, env=chosen, sources=sources, config_file=path,
                  config_file_read=file_values is not None)
