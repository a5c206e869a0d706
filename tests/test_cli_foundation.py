import json
import os
import stat
import subprocess

import pytest

from cli import QUARTZ, quartz, quartz_json
from quartz_cli.cli.main import COMMANDS, _NotBuilt
from quartz_cli.errors import NotImplementedYet


def test_help_lists_every_command_group():
    proc = quartz("--help")
    assert proc.returncode == 0
    for name in COMMANDS:
        assert name in proc.stdout
    assert quartz("--version").stdout.startswith("quartz ")


def test_unbuilt_command_fails_loudly_with_exit_2():
    cmd = _NotBuilt("someday", "A future command.")
    with pytest.raises(NotImplementedYet) as err:
        cmd.main(["--anything"], standalone_mode=False)
    assert err.value.exit_code == 2 and "not implemented yet" in err.value.message


def test_auth_refresh_then_status_in_local_with_no_configuration(quartz_home):
    assert quartz("auth", "refresh").returncode == 0
    status = quartz_json("auth", "status")
    assert status["env"] == "local" and status["valid"] is True
    assert status["layer"] == "disk" and 86_000 < status["remaining_s"] <= 86_400
    assert "token" not in json.dumps(status).replace("auth-token", "")
    token = quartz("auth", "token").stdout.strip()
    assert token.count(".") == 2 and token not in json.dumps(status)


@pytest.mark.serial
def test_twenty_concurrent_processes_issue_exactly_one_token(quartz_home):
    procs = [subprocess.Popen([QUARTZ, "auth", "token"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(20)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs][:3]
    tokens = {o.strip() for o, _ in outs}
    assert len(tokens) == 1
    sim = quartz_json("sim", "status")
    assert sim["counters"]["tokens_issued"] == 1
    assert sim["counters"]["token_requests"] == 1
    cache = quartz_home / "cache" / "tokens"
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700
    files = [p for p in cache.rglob("*") if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)


def test_paper_without_keys_names_the_missing_variables():
    proc = quartz("--env", "paper", "auth", "status")
    assert proc.returncode == 3
    assert "HANSEC_INVESTMENT_APP_KEY" in proc.stderr
    assert "HANSEC_INVESTMENT_APP_SECRET_KEY" in proc.stderr
    proc = quartz("--json", "--env", "prod", "doctor")
    assert proc.returncode == 3


def test_doctor_reports_configuration_and_checks_in_local():
    data = quartz_json("doctor")
    assert data["env"] == "local" and data["broker"]["in_process_simulator"] is True
    assert data["checks"]["broker"]["ok"] and data["checks"]["store"]["ok"]
    settings = {item["key"]: item for item in data["settings"]}
    assert settings["MIN_ORDER_KRW"]["value"] == 100000


def _leaf_commands():
    from quartz_cli.cli.main import _Lazy

    for name, (module, help_text) in COMMANDS.items():
        cmd = _Lazy(name, module, help_text).load()
        subs = getattr(cmd, "commands", None)
        if subs:
            for sub_name, sub in subs.items():
                yield f"{name} {sub_name}", sub
        else:
            yield name, cmd


def test_every_command_has_json_and_help():
    missing = []
    for path, cmd in _leaf_commands():
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        if "--json" not in opts:
            missing.append(path)
        assert cmd.help, f"quartz {path} has no help text"
    assert missing == []
