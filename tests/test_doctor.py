"""`quartz doctor` shows every setting of the tree with its value and source, secrets masked."""

from __future__ import annotations

import json

from cli import quartz, quartz_json
from quartz_cli.config import setting_specs

GPT_KEY = "sk-doctor-file-secret-0123456789"
APP_SECRET = "doctor-env-app-secret-abcdefghijklmnop"


def test_every_setting_appears_with_its_source_and_secrets_never(quartz_home):
    quartz_home.mkdir(parents=True, exist_ok=True)
    config = quartz_home / "config.toml"
    config.write_text(f'MIN_ORDER_KRW = 50000\nGPT_API_KEY = "{GPT_KEY}"\n')
    config.chmod(0o600)
    env = {"MAX_TURNOVER_RATIO": "0.25", "HANSEC_INVESTMENT_APP_SECRET_KEY": APP_SECRET}

    data = quartz_json("doctor", env=env)
    raw = quartz("--json", "doctor", env=env).stdout
    text = quartz("doctor", env={**env, "COLUMNS": "80"}).stdout

    listed = {item["key"]: item for item in data["settings"]}
    specs = setting_specs()
    assert [item["key"] for item in data["settings"]] == [s.key for s in specs]
    expected_source = {"MIN_ORDER_KRW": "file", "GPT_API_KEY": "file",
                       "MAX_TURNOVER_RATIO": "environment", "QUARTZ_HOME": "environment",
                       "HANSEC_INVESTMENT_APP_SECRET_KEY": "environment"}
    for spec in specs:
        item = listed[spec.key]
        assert item["section"] == spec.section and item["secret"] == spec.secret
        assert item["source"] == expected_source.get(spec.key, "default"), spec.key
        assert spec.key in text
    assert listed["MIN_ORDER_KRW"]["value"] == 50000
    assert listed["MAX_TURNOVER_RATIO"]["value"] == 0.25
    assert listed["MAX_SINGLE_TICKER_WEIGHT"]["value"] == 0.2
    assert listed["QUARTZ_STOP_LOSS_PCT"]["value"] == -5
    assert listed["GPT_API_KEY"]["value"] == "set (masked)"
    assert listed["HANSEC_INVESTMENT_APP_SECRET_KEY"]["value"] == "set (masked)"
    assert listed["GEMINI_API_KEY"]["value"] is None
    assert data["config_file"] == {"path": str(config), "read": True}
    assert data["broker"]["fill_notices"].startswith("off: no KIS WebSocket")
    for out in (raw, text, json.dumps(data)):
        assert GPT_KEY not in out and APP_SECRET not in out
    assert max(len(line) for line in text.splitlines()) <= 80


def test_a_bad_config_file_fails_doctor_with_the_config_exit_code(quartz_home, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("MIN_ORDER_KRW = \n")
    proc = quartz("--config", str(bad), "doctor")
    assert proc.returncode == 3
    assert "is not valid TOML" in proc.stderr and str(bad) in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = quartz("--config", str(tmp_path / "missing.toml"), "doctor")
    assert proc.returncode == 3 and "does not exist" in proc.stderr
