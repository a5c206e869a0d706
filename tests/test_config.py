import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from quartz_cli.config import EngineChoice, Env, Source, load_config, setting_specs
from quartz_cli.errors import ConfigError
from quartz_cli.kis.endpoints import PAPER_BASE_URL, REAL_BASE_URL, endpoint_for
from quartz_cli.redaction import redact

KEYS = {"HANSEC_INVESTMENT_APP_KEY": "PSabcdefghij", "HANSEC_INVESTMENT_APP_SECRET_KEY": "s" * 40,
        "HANSEC_INVESTMENT_CANO": "12345678-01"}


def test_environment_resolution_order():
    assert load_config(environ={}).env is Env.LOCAL
    assert load_config(environ={"IS_PRODUCTION": "true"}).env is Env.PROD
    assert load_config(environ={"IS_PRODUCTION": "true", "QUARTZ_ENV": "paper"}).env is Env.PAPER
    assert load_config("local", environ={"QUARTZ_ENV": "prod"}).env is Env.LOCAL
    with pytest.raises(ConfigError, match="unknown environment"):
        load_config("staging", environ={})


def test_paper_and_prod_name_every_missing_variable():
    for env in ("paper", "prod"):
        cfg = load_config(env, environ={})
        with pytest.raises(ConfigError) as err:
            cfg.broker_credentials()
        assert "HANSEC_INVESTMENT_APP_KEY" in err.value.message
        assert "HANSEC_INVESTMENT_APP_SECRET_KEY" in err.value.message
        with pytest.raises(ConfigError, match="HANSEC_INVESTMENT_CANO"):
            cfg.account()


def test_malformed_values_name_the_variable_not_the_value():
    with pytest.raises(ConfigError, match="MIN_ORDER_KRW"):
        load_config(environ={"MIN_ORDER_KRW": "lots"})
    with pytest.raises(ConfigError, match="MAX_SINGLE_TICKER_WEIGHT"):
        load_config(environ={"MAX_SINGLE_TICKER_WEIGHT": "1.5"})
    with pytest.raises(ConfigError) as err:
        load_config(environ={"HANSEC_INVESTMENT_CANO": "98765-secret"})
    assert "HANSEC_INVESTMENT_CANO" in err.value.message
    assert "98765-secret" not in err.value.message


def test_account_number_forms():
    cfg = load_config("paper", environ=KEYS)
    assert (cfg.account().cano, cfg.account().product) == ("12345678", "01")
    cfg = load_config("paper", environ={**KEYS, "HANSEC_INVESTMENT_CANO": "87654321",
                                        "QUARTZ_ACCOUNT_PRODUCT": "22"})
    assert (cfg.account().cano, cfg.account().product) == ("87654321", "22")


def test_endpoints_and_tr_ids_per_environment():
    paper = endpoint_for(load_config("paper", environ=KEYS))
    prod = endpoint_for(load_config("prod", environ=KEYS))
    local = endpoint_for(load_config("local", environ={}))
    assert paper.base_url == PAPER_BASE_URL and prod.base_url == REAL_BASE_URL
    assert local.in_process and not local.real_tr_ids
    assert prod.tr_id("TTTC0012U") == "TTTC0012U"
    assert paper.tr_id("TTTC0012U") == "VTTC0012U"
    assert paper.tr_id("FHKST01010100") == "FHKST01010100"
    assert (paper.rate_per_s, prod.rate_per_s) == (1.0, 18.0)
    override = endpoint_for(load_config("paper", environ={**KEYS,
                                                          "QUARTZ_KIS_BASE_URL": "http://127.0.0.1:1/",
                                                          "QUARTZ_RATE_LIMIT_PER_S": "5"}))
    assert override.base_url == "http://127.0.0.1:1" and override.rate_per_s == 5.0
    assert not override.in_process


def test_market_time_is_local_only():
    cfg = load_config(environ={"QUARTZ_MARKET_TIME": "2026-11-20T10:00:00+09:00"})
    # The clock started at that moment when the process (this test run) started.
    start = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    first = cfg.market_now()
    assert first.tzinfo is not None and timedelta(0) <= first - start < timedelta(hours=1)
    assert cfg.market_now() >= first
    with pytest.raises(ConfigError, match="only allowed in local"):
        load_config("prod", environ={"QUARTZ_MARKET_TIME": "2026-11-20T10:00:00+09:00"})
    with pytest.raises(ConfigError, match="QUARTZ_MARKET_TIME"):
        load_config(environ={"QUARTZ_MARKET_TIME": "2026-11-20T10:00:00"})


# --- the settings tree: decision settings, builders ---------------------------------------

def test_gate_constraints_exits_and_budget_come_from_the_tree():
    cfg = load_config(environ={"MIN_ORDER_KRW": "50000", "MAX_SINGLE_TICKER_WEIGHT": "0.1"})
    c = cfg.constraints()
    assert c.min_order_krw == 50_000 and c.max_single_ticker_weight == Decimal("0.1")
    assert c.max_turnover_ratio == Decimal("0.3") and c.max_buy_candidates == 3
    assert c.sell_tax_rate == Decimal("0.0020")
    assert cfg.settings.llm.decision_engine is EngineChoice.AUTO
    assert cfg.settings.llm.openai_model == "gpt-4o-mini"
    assert cfg.exit_rules().stop_loss_pct == Decimal("-5")
    assert cfg.exit_rules().take_profit_pct == Decimal("15")


def test_decision_overrides_and_errors_name_the_variable():
    cfg = load_config(environ={"QUARTZ_SELL_TAX_RATE": "0.0018", "QUARTZ_DECISION_ENGINE": "rules",
                               "QUARTZ_LLM_BUDGET_DAY_USD": "2.5"})
    assert cfg.constraints().sell_tax_rate == Decimal("0.0018")
    assert cfg.settings.llm.decision_engine is EngineChoice.RULES
    assert cfg.llm_budget().per_day_usd == 2.5
    with pytest.raises(ConfigError, match="QUARTZ_STOP_LOSS_PCT"):
        load_config(environ={"QUARTZ_STOP_LOSS_PCT": "5"})
    with pytest.raises(ConfigError, match="QUARTZ_DECISION_ENGINE"):
        load_config(environ={"QUARTZ_DECISION_ENGINE": "magic"})


def test_every_key_is_one_setting_of_one_section():
    specs = setting_specs()
    keys = [s.key for s in specs]
    assert len(keys) == len(set(keys))
    assert {"MIN_ORDER_KRW", "QUARTZ_STOP_LOSS_PCT", "QUARTZ_NEWS_SOURCES", "AUTH_AGENT_URL",
            "HANSEC_INVESTMENT_CANO", "QUARTZ_INPUT_MAX_AGE_H"} <= set(keys)
    assert all(s.description for s in specs)
    secrets = {s.key for s in specs if s.secret}
    assert secrets == {"HANSEC_INVESTMENT_APP_KEY", "HANSEC_INVESTMENT_APP_SECRET_KEY",
                       "HANSEC_INVESTMENT_CANO", "GPT_API_KEY", "GEMINI_API_KEY",
                       "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "ECOS_API_KEY",
                       "FRED_API_KEY", "QUARTZ_INTERNAL_TOKEN", "QUARTZ_KIS_HTS_ID",
                       "QUARTZ_NOTIFY_TELEGRAM_BOT_TOKEN", "QUARTZ_NOTIFY_SLACK_WEBHOOK_URL",
                       "QUARTZ_NOTIFY_WEBHOOK_URL",
                       "QUARTZ_DASHBOARD_OPERATOR_TOKEN", "QUARTZ_DASHBOARD_VIEWER_TOKEN"}


def test_news_sources_are_checked():
    cfg = load_config(environ={"QUARTZ_NEWS_SOURCES": "maeil, naver"})
    assert cfg.settings.news.source_names() == ["maeil", "naver"]
    with pytest.raises(ConfigError, match="QUARTZ_NEWS_SOURCES"):
        load_config(environ={"QUARTZ_NEWS_SOURCES": "reuters"}).settings.news.source_names()


# --- the config file ------------------------------------------------------------------------

def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_environment_wins_over_the_file_which_wins_over_defaults(tmp_path):
    home = tmp_path / "home"
    _write(home / "config.toml", 'MIN_ORDER_KRW = 50000\nMAX_TURNOVER_RATIO = 0.25\n'
                                 'QUARTZ_STOP_LOSS_PCT = -3.5\n')
    cfg = load_config(environ={"QUARTZ_HOME": str(home), "MAX_TURNOVER_RATIO": "0.1"})
    assert cfg.config_file == home / "config.toml" and cfg.config_file_read
    assert cfg.settings.constraints.min_order_krw == 50_000
    assert cfg.settings.constraints.max_turnover_ratio == 0.1
    assert cfg.exit_rules().stop_loss_pct == Decimal("-3.5")
    assert cfg.source("MIN_ORDER_KRW") is Source.FILE
    assert cfg.source("MAX_TURNOVER_RATIO") is Source.ENVIRONMENT
    assert cfg.source("MAX_SINGLE_TICKER_WEIGHT") is Source.DEFAULT
    assert cfg.source("QUARTZ_HOME") is Source.ENVIRONMENT


def test_no_default_file_is_fine_but_a_named_file_must_exist(tmp_path):
    cfg = load_config(environ={"QUARTZ_HOME": str(tmp_path)})
    assert not cfg.config_file_read and cfg.source("MIN_ORDER_KRW") is Source.DEFAULT
    missing = tmp_path / "nowhere.toml"
    for kwargs in ({"config_file": missing}, {"environ": {"QUARTZ_CONFIG": str(missing)}}):
        kwargs.setdefault("environ", {"QUARTZ_HOME": str(tmp_path)})
        with pytest.raises(ConfigError, match=r"nowhere\.toml does not exist") as err:
            load_config(**kwargs)
        assert err.value.exit_code == 3


def test_an_explicit_file_wins_over_quartz_config_and_the_default(tmp_path):
    _write(tmp_path / "config.toml", "MIN_ORDER_KRW = 1\n")
    named = _write(tmp_path / "named.toml", "MIN_ORDER_KRW = 2\n")
    explicit = _write(tmp_path / "explicit.toml", "MIN_ORDER_KRW = 3\n")
    environ = {"QUARTZ_HOME": str(tmp_path), "QUARTZ_CONFIG": str(named)}
    assert load_config(environ=environ).settings.constraints.min_order_krw == 2
    cfg = load_config(environ=environ, config_file=explicit)
    assert cfg.settings.constraints.min_order_krw == 3 and cfg.config_file == explicit


@pytest.mark.parametrize("text, problem", [
    ("MIN_ORDER_KRW = \n", "is not valid TOML"),
    ("MIN_ORDER_KRWW = 5\n", "unknown key(s) MIN_ORDER_KRWW"),
    ("[constraints]\nMIN_ORDER_KRW = 5\n", "unknown key(s) constraints"),
    ("MIN_ORDER_KRW = [1, 2]\n", "MIN_ORDER_KRW must be a single value"),
    ('MIN_ORDER_KRW = "lots"\n', "MIN_ORDER_KRW (in "),
])
def test_a_bad_file_is_a_config_error_naming_the_file(tmp_path, text, problem):
    path = _write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as err:
        load_config(environ={}, config_file=path)
    assert problem in err.value.message and str(path) in err.value.message


def test_an_unknown_key_suggests_the_nearest_name(tmp_path):
    path = _write(tmp_path / "typo.toml", "QUARTZ_STOPLOSS_PCT = -4\n")
    with pytest.raises(ConfigError) as err:
        load_config(environ={}, config_file=path)
    assert "QUARTZ_STOP_LOSS_PCT" in (err.value.hint or "")


def test_an_unreadable_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(environ={}, config_file=tmp_path)


def test_secrets_from_the_file_are_masked_and_a_readable_file_is_warned_about(tmp_path, caplog):
    key = "file-only-gpt-key-0123456789"
    path = _write(tmp_path / "secrets.toml", f'GPT_API_KEY = "{key}"\n', mode=0o644)
    with caplog.at_level(logging.WARNING, logger="quartz_cli.config"):
        cfg = load_config("paper", environ={}, config_file=path)
    assert cfg.settings.llm.gpt_api_key.get_secret_value() == key
    assert cfg.source("GPT_API_KEY") is Source.FILE
    assert redact(f"key={key}") == "key=***"
    assert any("readable by other users" in r.getMessage() for r in caplog.records)
    assert key not in caplog.text
    caplog.clear()
    path.chmod(0o600)
    load_config("paper", environ={}, config_file=path)
    assert not caplog.records


def test_a_malformed_secret_in_the_file_is_named_not_echoed(tmp_path):
    path = _write(tmp_path / "cano.toml", 'HANSEC_INVESTMENT_CANO = "98765-secret"\n')
    with pytest.raises(ConfigError) as err:
        load_config(environ={}, config_file=path)
    assert "HANSEC_INVESTMENT_CANO" in err.value.message
    assert "98765-secret" not in err.value.message
