"""Known secret values never appear in any output, log line, error, cache or store file."""

import pytest

from cli import quartz
from fakes.server import LoopbackServer, free_port
from quartz_cli.redaction import redact, register_secret
from quartz_cli.sim import SimConfig, SimState, Simulator

SECRETS = {
    "HANSEC_INVESTMENT_APP_KEY": "PSknownAPPKEYabcdefghijklmnopqrstuv",
    "HANSEC_INVESTMENT_APP_SECRET_KEY": "KnownAppSecret/" + "x9Y8z7" * 27,
    "HANSEC_INVESTMENT_CANO": "73510246-01",
    "GPT_API_KEY": "sk-known-gpt-key-0123456789",
    "GEMINI_API_KEY": "AIzaKnownGeminiKey0123456789",
    "AWS_SECRET_ACCESS_KEY": "knownAwsSecretAccessKey0123456789",
    "QUARTZ_INTERNAL_TOKEN": "known-internal-bearer-0123456789",
}


def leaks(text: str) -> list[str]:
    found = [name for name, value in SECRETS.items() if value in text]
    found += [f"{name} (account digits)" for name, value in SECRETS.items()
              if name.endswith("CANO") and value.replace("-", "")[:8] in text]
    return found


@pytest.fixture
def paper_sim(tmp_path):
    sim = Simulator(SimState(tmp_path / "broker.db"), SimConfig(token_issue_interval_s=0))
    with LoopbackServer(sim.app) as srv:
        yield srv.url


def test_no_secret_in_outputs_logs_or_errors(paper_sim, quartz_home, tmp_path):
    env = {**SECRETS, "QUARTZ_KIS_BASE_URL": paper_sim}
    runs = [
        quartz("-vv", "--env", "paper", "auth", "refresh", env=env),
        quartz("-vv", "--env", "paper", "doctor", env=env),
        quartz("-vv", "--env", "paper", "--json", "doctor", env=env),
        quartz("-vv", "--env", "paper", "auth", "status", "--json", env=env),
        quartz("-vv", "--env", "paper", "auth", "status", env=env),
        # error paths: a dead broker (fresh cache, so it must issue), a malformed account number
        quartz("-vv", "--env", "paper", "auth", "token",
               env={**env, "QUARTZ_KIS_BASE_URL": f"http://127.0.0.1:{free_port()}",
                    "QUARTZ_HOME": str(tmp_path / "other-home")}),
        quartz("-vv", "--env", "paper", "doctor",
               env={**env, "HANSEC_INVESTMENT_CANO": SECRETS["GPT_API_KEY"]}),
    ]
    assert [r.returncode for r in runs[:5]] == [0, 0, 0, 0, 0], runs[0].stderr
    assert runs[5].returncode == 5 and "cannot reach KIS" in runs[5].stderr
    assert runs[6].returncode == 3 and "HANSEC_INVESTMENT_CANO" in runs[6].stderr
    for r in runs:
        assert leaks(r.stdout + r.stderr) == [], (r.args, r.stdout[-500:], r.stderr[-500:])
    assert "set (masked)" in runs[1].stdout
    for path in quartz_home.rglob("*"):
        if path.is_file():
            assert leaks(path.read_bytes().decode("latin-1")) == [], path


def test_redaction_masks_registered_values_and_their_url_encoding():
    register_secret("abc/def+ghi=jkl")
    text = "GET https://x/api?key=abc%2Fdef%2Bghi%3Djkl failed for abc/def+ghi=jkl"
    assert "abc" not in redact(text) and redact(text).count("***") == 2
