import pytest

from quartz_cli.config import Env, load_config
from quartz_cli.errors import ConfigError
from quartz_cli.kis.endpoints import PAPER_BASE_URL, REAL_BASE_URL, endpoint_for

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
    assert cfg.market_now().isoformat().startswith("2026-11-20T01:00")
    with pytest.raises(ConfigError, match="only allowed in local"):
        load_config("prod", environ={"QUARTZ_MARKET_TIME": "2026-11-20T10:00:00+09:00"})
    with pytest.raises(ConfigError, match="QUARTZ_MARKET_TIME"):
        load_config(environ={"QUARTZ_MARKET_TIME": "2026-11-20T10:00:00"})
