"""The single-host schedule: `cronjobs/crontab` runs what the CronJobs run, when they run it,
through `cronjobs/run-job` (env file, no overlap, deadline, log), which is run for real here."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploy_support import ROOT, load_docs

CRONTAB = ROOT / "cronjobs" / "crontab"
RUN_JOB = ROOT / "cronjobs" / "run-job"
QUARTZ = str(Path(sys.executable).parent / "quartz")


def _cronjobs() -> dict[str, dict]:
    jobs = {}
    for path in sorted((ROOT / "cronjobs").glob("*.yaml")):
        for doc in load_docs(path.read_text()):
            if doc["kind"] == "CronJob" and path.name != "job-defaults.yaml":
                jobs[doc["metadata"]["name"]] = doc
    return jobs


def _crontab() -> tuple[dict[str, str], dict[str, tuple[str, list[str]]]]:
    """(variables, {job name: (schedule, [run-job arguments after the name])})."""
    variables, entries = {}, {}
    for line in CRONTAB.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        first = line.split()[0]
        if "=" in first:
            key, _, value = line.partition("=")
            variables[key] = value
            continue
        fields = line.split()
        schedule, command = " ".join(fields[:5]), fields[5:]
        assert command[0] == "$RUN_JOB", line
        entries[command[1]] = (schedule, command[2:])
    return variables, entries


def test_crontab_runs_the_cronjobs_on_their_schedules() -> None:
    variables, entries = _crontab()
    jobs = _cronjobs()

    assert variables["CRON_TZ"] == "Asia/Seoul"
    assert set(entries) == set(jobs)
    for name, job in jobs.items():
        schedule, (deadline, *args) = entries[name]
        assert schedule == job["spec"]["schedule"], name
        assert int(deadline) == job["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"], name
        container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        assert args == container["args"], name


def test_run_job_is_valid_posix_sh() -> None:
    assert os.access(RUN_JOB, os.X_OK)
    subprocess.run(["sh", "-n", str(RUN_JOB)], check=True)


@pytest.fixture
def env_file(tmp_path: Path, quartz_home: Path) -> Path:
    path = tmp_path / "quartz.env"
    # Values are taken literally: spaces, quotes and dollar signs survive.
    path.write_text(f"# comment\n\nQUARTZ_ENV=local\nQUARTZ_HOME={quartz_home}\n"
                    "QUARTZ_HTTP_TIMEOUT_S=7.5\nGPT_API_KEY=sk test $HOME 'x'\n")
    path.chmod(0o600)
    return path


def _run_job(env_file: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
           "QUARTZ_ENV_FILE": str(env_file), "QUARTZ_BIN": QUARTZ}
    return subprocess.run(["sh", str(RUN_JOB), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_auth_refresh_line_runs(env_file: Path, quartz_home: Path) -> None:
    _, entries = _crontab()
    deadline, *args = entries["auth-refresh"][1]

    result = _run_job(env_file, "auth-refresh", deadline, *args)

    assert result.returncode == 0, result.stderr
    assert result.stdout == result.stderr == ""  # a good run mails nothing
    log = (quartz_home / "logs" / "auth-refresh.log").read_text()
    assert "auth-refresh: start: quartz --json auth refresh" in log
    assert log.rstrip().endswith("auth-refresh: exit 0")
    body = log[log.index("{"):log.rindex("}") + 1]
    status = json.loads(body)
    assert status["env"] == "local" and status["valid"] is True
    assert oct((quartz_home / "logs" / "auth-refresh.log").stat().st_mode & 0o777) == "0o600"


def test_env_file_values_are_literal(env_file: Path, quartz_home: Path) -> None:
    result = _run_job(env_file, "doctor", "60", "--json", "doctor")

    log = (quartz_home / "logs" / "doctor.log").read_text()
    body = json.loads(log[log.index("{"):log.rindex("}") + 1])
    assert result.returncode == 0, log
    settings = {item["key"]: item for item in body["settings"]}
    assert settings["QUARTZ_HTTP_TIMEOUT_S"]["value"] == 7.5
    assert settings["QUARTZ_HTTP_TIMEOUT_S"]["source"] == "environment"
    assert settings["GPT_API_KEY"]["value"] == "set (masked)"
    assert "sk test" not in log


def test_a_running_job_is_not_started_twice(env_file: Path, quartz_home: Path) -> None:
    logs = quartz_home / "logs"
    logs.mkdir(parents=True)
    with open(logs / "decide.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = _run_job(env_file, "decide", "60", "--json", "auth", "status")

    assert result.returncode == 0
    log = (logs / "decide.log").read_text()
    assert "still going; skipped" in log
    assert "start:" not in log


def test_a_failing_job_prints_a_summary_and_keeps_its_log(env_file: Path,
                                                         quartz_home: Path) -> None:
    result = _run_job(env_file, "cancel", "60", "--json", "trade", "cancel", "0000000001",
                      "--qty", "-3")

    assert result.returncode == 4
    summary = result.stderr.splitlines()
    assert summary[0] == "quartz job 'cancel' FAILED: exit 4 (invalid input)"
    assert "command: quartz --json trade cancel 0000000001 --qty -3" in summary
    assert f"log: {quartz_home / 'logs' / 'cancel.log'}" in summary
    assert any(line.startswith("error: --qty -3") for line in summary)
    assert len(summary) <= 24 and result.stdout == ""
    log = (quartz_home / "logs" / "cancel.log").read_text()
    assert '"error": "InputError"' in log and "error: --qty -3" in log
    assert log.rstrip().endswith("cancel: exit 4")


def test_overlapping_runs_of_a_job_are_locked(env_file: Path, quartz_home: Path,
                                              tmp_path: Path) -> None:
    """A run still going holds the job's lock: the next one is skipped, not started."""
    from fakes.server import free_port

    first = subprocess.Popen(
        ["sh", str(RUN_JOB), "sim", "30", "sim", "serve", "--port", str(free_port()), "--db",
         str(tmp_path / "sim.db")],
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
             "QUARTZ_ENV_FILE": str(env_file), "QUARTZ_BIN": QUARTZ},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = quartz_home / "logs" / "sim.log"
    try:
        for _ in range(200):
            if log.exists() and "start:" in log.read_text():
                break
            assert first.poll() is None
            time.sleep(0.05)
        second = _run_job(env_file, "sim", "30", "--json", "auth", "status")
    finally:
        # The whole group: run-job, its timeout and the server under it.
        os.killpg(first.pid, signal.SIGTERM)
        first.wait(timeout=30)

    assert second.returncode == 0 and second.stderr == ""
    text = log.read_text()
    assert text.count("start:") == 1 and "sim: the previous run is still going; skipped" in text


def test_the_deadline_stops_a_job(env_file: Path, quartz_home: Path, tmp_path: Path) -> None:
    from fakes.server import free_port

    # A command that never ends by itself: the simulator's server.
    result = _run_job(env_file, "slow", "2", "sim", "serve", "--port", str(free_port()),
                      "--db", str(tmp_path / "sim.db"), timeout=60)

    assert result.returncode == 124
    log = (quartz_home / "logs" / "slow.log").read_text()
    assert "killed after the 2s deadline" in log
    assert log.rstrip().endswith("slow: exit 124")


@pytest.mark.parametrize("content, fragment", [
    ("export QUARTZ_ENV=local\n", "line 1 is not KEY=value"),
    ("QUARTZ_ENV=local\nno equals sign\n", "line 2 is not KEY=value"),
])
def test_a_malformed_env_file_is_refused(tmp_path: Path, content, fragment) -> None:
    bad = tmp_path / "bad.env"
    bad.write_text(content)

    result = _run_job(bad, "auth-refresh", "60", "--json", "auth", "refresh")

    assert result.returncode == 3
    assert fragment in result.stderr


def test_a_missing_env_file_is_refused(tmp_path: Path) -> None:
    result = _run_job(tmp_path / "absent.env", "auth-refresh", "60", "auth", "refresh")

    assert result.returncode == 3
    assert "cannot read" in result.stderr


def test_usage() -> None:
    result = subprocess.run(["sh", str(RUN_JOB), "only-a-name"], capture_output=True, text=True)

    assert result.returncode == 2
    assert "usage" in result.stderr
