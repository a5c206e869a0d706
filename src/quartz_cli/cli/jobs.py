"""Job records: a command run as a scheduled job (`QUARTZ_JOB=<name>`, set by the CronJobs
and by `cronjobs/run-job`) writes `job.started` and `job.finished` (with its exit code) to
the account's event log."""

from __future__ import annotations

import os
from typing import Any

JOB_VARIABLE = "QUARTZ_JOB"


def track_job(ctx: Any) -> None:
    """If this process runs a scheduled job, record its start now and its end (exit code
    included) when the root context closes."""
    name = os.environ.get(JOB_VARIABLE, "").strip()
    if not name or ctx.resilient_parsing:
        return
    from quartz_cli.app.events import JobEvents
    from quartz_cli.cli.context import config
    from quartz_cli.errors import QuartzError

    try:
        cfg = config()
    except QuartzError:
        return  # the command itself reports the configuration error
    ctx.with_resource(JobEvents(cfg, name))
