"""Every secret set to a canary, in each format the account number is accepted in: commands
run with -vv against the simulator and against failing endpoints, and no canary appears in any
output, log line, error, the store, the ledger or the event log (by value, nor in the forms
the broker sends: the bare 8-digit CANO, the product code as a parameter)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cli import quartz
from fakes.server import LoopbackServer, free_port
from quartz_cli.redaction import redact, register_account
from quartz_cli.sim import SimConfig, SimState, Simulator

NUMBER = "73914628"
CANARIES = {
    "HANSEC_INVESTMENT_APP_KEY": "PScanaryAPPKEY0123456789abcdefghij",
    "HANSEC_INVESTMENT_APP_SECRET_KEY": "CanaryAppSecret/" + "q1W2e3" * 25,
    "GPT_API_KEY": "sk-canary-gpt-key-0123456789",
    "GEMINI_API_KEY": "AIzaCanaryGeminiKey0123456789",
    "ECOS_API_KEY": "CANARYECOSKEY12345",
    "FRED_API_KEY": "canaryfredkey0123456789abcdef012",
    "AWS_ACCESS_KEY_ID": "AKIACANARYKEYID01234",
    "AWS_SECRET_ACCESS_KEY": "canaryAwsSecretAccessKey0123456789",
    "QUARTZ_INTERNAL_TOKEN": "canary-internal-bearer-0123456789",
    "QUARTZ_NOTIFY_TELEGRAM_BOT_TOKEN": "987654:CanaryTelegramBotToken_abcdef",
    "QUARTZ_NOTIFY_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/TCANARY/BCAN/canary01",
    "QUARTZ_NOTIFY_WEBHOOK_URL": "https://hooks.example.com/quartz?token=canarywebhook0123",
}
# Each accepted form of the account: dashed, ten digits, eight digits plus the product key.
ACCOUNT_FORMS = [
    {"HANSEC_INVESTMENT_CANO": f"{NUMBER}-01"},
    {"HANSEC_INVESTMENT_CANO": f"{NUMBER}01"},
    {"HANSEC_INVESTMENT_CANO": NUMBER, "QUARTZ_ACCOUNT_PRODUCT": "01"},
]
PRODUCT_AS_PARAMETER = re.compile(r"ACNT_PRDT_CD\W{0,4}01")


def leaks(text: str) -> list[str]:
    """The canaries (or the account's digits, or its product code as a parameter) in text."""
    found = [name for name, value in CANARIES.items() if value in text]
    if NUMBER in text:
        found.append("account number")
    if PRODUCT_AS_PARAMETER.search(text):
        found.append("product code")
    return found


class _FailingKis:
    """A KIS endpoint that fails every call, echoing the request (query string, headers and
    body) in its error: the worst case of an upstream that reflects what it was sent."""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        echo = (f"{scope['method']} {scope['path']}?{scope['query_string'].decode()} "
                f"{headers} {body.decode(errors='replace')}").encode()
        await send({"type": "http.response.start", "status": 500,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": echo})


@pytest.fixture
def sim_url(tmp_path):
    sim = Simulator(SimState(tmp_path / "broker.db"), SimConfig(token_issue_interval_s=0))
    with LoopbackServer(sim.app) as srv:
        yield srv.url


@pytest.fixture
def failing_url():
    with LoopbackServer(_FailingKis()) as srv:
        yield srv.url


def _scan_homes(*homes: Path) -> None:
    for home in homes:
        for path in home.rglob("*"):
            if path.is_file():
                assert leaks(path.read_bytes().decode("latin-1")) == [], path


@pytest.mark.slow  # ten CLI processes (~1-2 s each): every account form and failure path
def test_no_canary_anywhere_with_vv(sim_url, failing_url, quartz_home, tmp_path):
    env = {**CANARIES, **ACCOUNT_FORMS[0], "QUARTZ_KIS_BASE_URL": sim_url,
           "QUARTZ_RATE_LIMIT_PER_S": "100"}
    dead = {**env, "QUARTZ_KIS_BASE_URL": f"http://127.0.0.1:{free_port()}",
            "QUARTZ_HOME": str(tmp_path / "dead-home")}
    failing = {**env, "QUARTZ_KIS_BASE_URL": failing_url,
               "QUARTZ_HOME": str(tmp_path / "failing-home")}
    # Each accepted form of the account against the simulator, which checks the account.
    runs = [quartz("-vv", "--env", "paper", "trade", "balance", "--json", env={**env, **form})
            for form in ACCOUNT_FORMS]
    runs += [
        quartz("-vv", "--env", "paper", "--log-format", "json", "trade", "orders", env=env),
        quartz("-vv", "--env", "paper", "--log-format", "text", "auth", "status", env=env),
        quartz("-vv", "--env", "paper", "doctor", env=env),
        quartz("-vv", "--env", "paper", "--json", "events", env=env),
        quartz("-vv", "--env", "paper", "trade", "balance", env=failing),
        quartz("-vv", "--env", "paper", "--log-format", "json", "trade", "balance", env=dead),
    ]
    assert [r.returncode for r in runs[:7]] == [0] * 7, [r.stderr[-800:] for r in runs]
    # The account really was sent (so the check means something): httpx logs its request
    # lines at -vv, the parameters masked.
    for r in runs[:3]:
        assert "CANO=***" in r.stderr and "ACNT_PRDT_CD=***" in r.stderr, r.stderr[-800:]
    assert runs[7].returncode != 0 and runs[8].returncode != 0
    # The event log (scanned below with the rest of QUARTZ_HOME) has something in it.
    assert '"token.issued"' in runs[6].stdout
    for r in runs:
        assert leaks(r.stdout + r.stderr) == [], (r.args, r.stdout[-800:], r.stderr[-800:])
    _scan_homes(quartz_home, tmp_path / "dead-home", tmp_path / "failing-home")
    # --log-format json: one object per line with the level and the logger.
    lines = [json.loads(line) for line in runs[3].stderr.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(x) for x in lines)


def test_redaction_masks_the_forms_the_broker_sends_unregistered_values_in():
    text = ("GET /uapi?CANO=11112222&ACNT_PRDT_CD=03&appkey=zz HTTP/1.1 | "
            '{"CANO": "11112222", "ACNT_PRDT_CD": "03"} | authorization: Bearer eyJhbGci.x | '
            "https://api.stlouisfed.org/fred?api_key=abcdef0123&series_id=DGS10 | "
            "{'appsecret': 'shh', 'tr_id': 'TTTC8434R'}")
    clean = redact(text)
    assert not any(s in clean for s in ("11112222", "=03", '"03"', "eyJhbGci", "abcdef0123",
                                        "shh", "zz "))
    assert "series_id=DGS10" in clean and "TTTC8434R" in clean


def test_every_form_of_a_registered_account_number_is_masked():
    register_account("55556666-01")
    clean = redact("a 55556666 b 5555666601 c 55556666-01")
    assert "5555" not in clean and clean.count("***") == 3
