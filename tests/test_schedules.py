"""The scheduled jobs' table against cronjobs/, and when a job missed its schedule."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from quartz_cli.domain.krx import KST
from quartz_cli.domain.schedules import JOB_SCHEDULES, Schedule, job_state

CRONJOBS = Path(__file__).resolve().parent.parent / "cronjobs"


def test_the_table_is_the_cronjobs_and_the_crontab():
    manifests = {}
    for path in CRONJOBS.glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CronJob" and "schedule" in doc["spec"]:
                manifests[doc["metadata"]["name"]] = doc["spec"]["schedule"]
    crontab = {}
    for line in (CRONJOBS / "crontab").read_text().splitlines():
        match = re.match(r"^(\S+\s+\S+\s+\S+\s+\S+\s+\S+)\s+\$RUN_JOB\s+(\S+)", line)
        if match:
            crontab[match.group(2)] = " ".join(match.group(1).split())
    assert manifests == JOB_SCHEDULES == crontab


@pytest.mark.parametrize(("schedule", "now", "fired"), [
    # Friday 15:31 → the 15:30 run; Saturday → still Friday's last (weekdays only).
    ("0,30 9-15 * * 1-5", "2026-11-27T15:31", "2026-11-27T15:30"),
    ("0,30 9-15 * * 1-5", "2026-11-28T10:00", "2026-11-27T15:30"),
    ("*/5 9-15 * * 1-5", "2026-11-24T09:07", "2026-11-24T09:05"),
    ("0 7,19 * * *", "2026-11-24T06:59", "2026-11-23T19:00"),
    ("30 8 * * *", "2026-11-24T08:30", "2026-11-24T08:30"),
    # Both day fields restricted: either matches (cron's rule); 1st of the month or Sunday.
    ("0 12 1 * 0", "2026-11-03T13:00", "2026-11-01T12:00"),
])
def test_last_fire_in_kst(schedule, now, fired):
    at = datetime.fromisoformat(now).replace(tzinfo=KST)
    assert Schedule.parse(schedule).last_fire(at) == datetime.fromisoformat(fired).replace(
        tzinfo=KST)


def test_a_job_is_missed_only_past_the_grace_after_a_firing_without_a_start():
    decide = JOB_SCHEDULES["decide"]
    fired = datetime(2026, 11, 24, 10, 30, tzinfo=KST)
    before = fired - timedelta(minutes=30)
    assert job_state(decide, fired + timedelta(minutes=5), before, 0) == ("ok", fired)
    assert job_state(decide, fired + timedelta(minutes=11), before, 0) == ("missed", fired)
    assert job_state(decide, fired + timedelta(minutes=11), fired, 0) == ("ok", fired)
    assert job_state(decide, fired + timedelta(minutes=11), fired, 7) == ("failed", fired)
    assert job_state(decide, fired + timedelta(minutes=11), fired, None) == ("running", fired)
    assert job_state(decide, fired, None, None) == ("never run", fired)
    with pytest.raises(ValueError, match="5-field"):
        Schedule.parse("0 7 * *")
