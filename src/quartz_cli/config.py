"""One settings model for every agent, read from the environment (ConfigMap + Secret keys).

Environment resolution, first match wins: the CLI's `--env`, `QUARTZ_ENV`, `IS_PRODUCTION=true`
(→ prod), else `local`. `local` needs nothing; `paper` and `prod` need the broker keys and fail
with a message naming each missing variable, never falling back to another environment.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from quartz_cli.errors import ConfigError
from quartz_cli.redaction import register_secret


class Env(str, Enum):
    """Where orders go: the local simulator, the KIS paper account, or real money."""

    LOCAL = "local"
    PAPER = "paper"
    PROD = "prod"


class Settings(BaseSettings):
    """Every configuration key Quartz reads. Names are fixed by the cluster's ConfigMap/Secret."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=True, populate_by_name=True)

    # ConfigMap quartz-config
    is_production: bool = Field(default=False, validation_alias="IS_PRODUCTION")
    aws_region: str = Field(default="ap-northeast-2", validation_alias="AWS_REGION")
    s3_bucket_name: str | None = Field(default=None, validation_alias="S3_BUCKET_NAME")
    min_order_krw: int = Field(default=100_000, ge=0, validation_alias="MIN_ORDER_KRW")
    max_single_ticker_weight: float = Field(
        default=0.2, gt=0, le=1, validation_alias="MAX_SINGLE_TICKER_WEIGHT"
    )
    max_turnover_ratio: float = Field(default=0.3, gt=0, le=1, validation_alias="MAX_TURNOVER_RATIO")
    auth_agent_url: str | None = Field(default=None, validation_alias="AUTH_AGENT_URL")
    macro_agent_url: str | None = Field(default=None, validation_alias="MACRO_AGENT_URL")
    ticker_selector_url: str | None = Field(default=None, validation_alias="TICKER_SELECTOR_URL")
    technical_agent_url: str | None = Field(default=None, validation_alias="TECHNICAL_AGENT_URL")
    trading_agent_ws_url: str | None = Field(default=None, validation_alias="TRADING_AGENT_WS_URL")

    # Secret quartz-secrets
    app_key: SecretStr | None = Field(default=None, validation_alias="HANSEC_INVESTMENT_APP_KEY")
    app_secret: SecretStr | None = Field(
        default=None, validation_alias="HANSEC_INVESTMENT_APP_SECRET_KEY"
    )
    cano: SecretStr | None = Field(default=None, validation_alias="HANSEC_INVESTMENT_CANO")
    gpt_api_key: SecretStr | None = Field(default=None, validation_alias="GPT_API_KEY")
    gemini_api_key: SecretStr | None = Field(default=None, validation_alias="GEMINI_API_KEY")
    aws_access_key_id: SecretStr | None = Field(default=None, validation_alias="AWS_ACCESS_KEY_ID")
    aws_secret_access_key: SecretStr | None = Field(
        default=None, validation_alias="AWS_SECRET_ACCESS_KEY"
    )
    ecos_api_key: SecretStr | None = Field(default=None, validation_alias="ECOS_API_KEY")
    fred_api_key: SecretStr | None = Field(default=None, validation_alias="FRED_API_KEY")

    # Project keys (QUARTZ_ prefix)
    env_name: Env | None = Field(default=None, validation_alias="QUARTZ_ENV")
    home: Path = Field(default_factory=lambda: Path.home() / ".quartz", validation_alias="QUARTZ_HOME")
    account_product: str = Field(default="01", validation_alias="QUARTZ_ACCOUNT_PRODUCT")
    kis_base_url: str | None = Field(default=None, validation_alias="QUARTZ_KIS_BASE_URL")
    rate_share: float = Field(default=1.0, gt=0, le=1, validation_alias="QUARTZ_RATE_SHARE")
    rate_limit_per_s: float | None = Field(
        default=None, gt=0, validation_alias="QUARTZ_RATE_LIMIT_PER_S"
    )
    s3_endpoint_url: str | None = Field(default=None, validation_alias="QUARTZ_S3_ENDPOINT_URL")
    store_dir: Path | None = Field(default=None, validation_alias="QUARTZ_STORE_DIR")
    internal_token: SecretStr | None = Field(default=None, validation_alias="QUARTZ_INTERNAL_TOKEN")
    live_trading: bool = Field(default=False, validation_alias="QUARTZ_LIVE_TRADING")
    http_timeout_s: float = Field(default=10.0, gt=0, validation_alias="QUARTZ_HTTP_TIMEOUT_S")
    # Simulation only: the market clock starts at this moment when the process starts and
    # runs on from there, so `local` can be exercised inside a KRX session at any hour.
    market_time: datetime | None = Field(default=None, validation_alias="QUARTZ_MARKET_TIME")
    # Macro agent: model, endpoints (for loopback fakes), staleness, degraded-mode drills.
    gemini_model: str = Field(default="gemini-2.5-flash", validation_alias="QUARTZ_GEMINI_MODEL")
    gemini_base_url: str | None = Field(default=None, validation_alias="QUARTZ_GEMINI_BASE_URL")
    ecos_base_url: str | None = Field(default=None, validation_alias="QUARTZ_ECOS_BASE_URL")
    fred_base_url: str | None = Field(default=None, validation_alias="QUARTZ_FRED_BASE_URL")
    worldbank_base_url: str | None = Field(default=None,
                                           validation_alias="QUARTZ_WORLDBANK_BASE_URL")
    macro_max_age_h: float = Field(default=24.0, gt=0, validation_alias="QUARTZ_MACRO_MAX_AGE_H")
    # Local only: comma-separated sources whose fake endpoint answers with errors.
    macro_fake_fail: str = Field(default="", validation_alias="QUARTZ_MACRO_FAKE_FAIL")

    @field_validator("market_time")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("must carry a UTC offset, e.g. 2026-11-24T10:00:00+09:00")
        return v

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

    def secret_values(self) -> list[str]:
        """Every secret's plain value, for registration with the redactor."""
        out = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                out.append(value.get_secret_value())
        return out


@dataclass(frozen=True)
class Account:
    """A KIS account: 8-digit CANO and 2-digit product code (01 = stock account)."""

    cano: str
    product: str


_SECRET_VARS = {
    "app_key": "HANSEC_INVESTMENT_APP_KEY",
    "app_secret": "HANSEC_INVESTMENT_APP_SECRET_KEY",
    "cano": "HANSEC_INVESTMENT_CANO",
}


@dataclass(frozen=True)
class Config:
    """Resolved configuration: the settings plus the chosen environment."""

    settings: Settings
    env: Env

    @property
    def home(self) -> Path:
        return self.settings.home

    def market_now(self) -> datetime:
        """Now, for market decisions: the wall clock, or the simulated clock in `local`."""
        if self.settings.market_time is not None and self.env is Env.LOCAL:
            return market_clock(self.settings.market_time)()
        return datetime.now(UTC)

    def require(self, *fields: str) -> None:
        """Raise ConfigError naming every listed setting that is unset."""
        missing = []
        for field in fields:
            if getattr(self.settings, field) is None:
                alias = type(self.settings).model_fields[field].validation_alias
                missing.append(alias if isinstance(alias, str) else field)
        if missing:
            raise ConfigError(
                f"environment '{self.env.value}' needs {', '.join(missing)}",
                hint="set them in the environment (the cluster's Secret quartz-secrets)",
            )

    def broker_credentials(self) -> tuple[str, str]:
        """(app key, app secret) for this environment; the simulator's own pair in local."""
        if self.env is Env.LOCAL:
            return LOCAL_APP_KEY, LOCAL_APP_SECRET
        self.require("app_key", "app_secret")
        assert self.settings.app_key and self.settings.app_secret
        return self.settings.app_key.get_secret_value(), self.settings.app_secret.get_secret_value()

    def account(self) -> Account:
        """The trading account; the simulator's paper account in local."""
        if self.env is Env.LOCAL and self.settings.cano is None:
            return Account(LOCAL_CANO, "01")
        self.require("cano")
        assert self.settings.cano is not None
        digits = self.settings.cano.get_secret_value().replace("-", "")
        if len(digits) == 10:
            return Account(digits[:8], digits[8:])
        return Account(digits, self.settings.account_product)


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


def _validation_message(err: ValidationError) -> str:
    parts = []
    for item in err.errors():
        loc = item.get("loc") or ("?",)
        parts.append(f"{loc[0]}: {item.get('msg')}")
    return "; ".join(parts)


def load_config(env: Env | str | None = None, environ: dict[str, str] | None = None) -> Config:
    """Read the settings from the environment and resolve which environment is in force."""
    source = dict(os.environ if environ is None else environ)
    for name in _SECRET_VARS.values():
        register_secret(source.get(name))
    for name in ("GPT_API_KEY", "GEMINI_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "ECOS_API_KEY", "FRED_API_KEY", "QUARTZ_INTERNAL_TOKEN"):
        register_secret(source.get(name))
    try:
        settings = Settings(**{k: v for k, v in source.items() if k in _KNOWN_KEYS})
    except ValidationError as err:
        raise ConfigError(f"invalid configuration: {_validation_message(err)}") from None
    for value in settings.secret_values():
        register_secret(value)
    if env is not None:
        try:
            chosen = Env(env)
        except ValueError:
            raise ConfigError(f"unknown environment '{env}' (choose local, paper or prod)") from None
    elif settings.env_name is not None:
        chosen = settings.env_name
    elif settings.is_production:
        chosen = Env.PROD
    else:
        chosen = Env.LOCAL
    if settings.market_time is not None and chosen is not Env.LOCAL:
        raise ConfigError("QUARTZ_MARKET_TIME simulates the market clock and is only allowed "
                          f"in local, not in {chosen.value}")
    return Config(settings=settings, env=chosen)


_KNOWN_KEYS = {
    f.validation_alias
    for f in Settings.model_fields.values()
    if isinstance(f.validation_alias, str)
}
